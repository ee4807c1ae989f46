"""Nearest-cloudlet search on the sphere: 1-degree cells and a growing bounding circle."""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from common.geo import EARTH_RADIUS_KM
from tier1.records import Location

K = TypeVar("K", bound=Hashable)

HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM
_CELL_DEGREES = 1
_LON_CELLS = 360 // _CELL_DEGREES


def _cell(location: Location) -> tuple[int, int]:
    lat, lon = location
    lat_cell = min(math.floor(lat + 90.0), 179)
    lon_cell = math.floor(lon + 180.0) % _LON_CELLS
    return lat_cell, lon_cell


EARTH_AREA_KM2 = 4 * math.pi * EARTH_RADIUS_KM**2
MIN_RADIUS_KM = 10.0


class GeoIndex(Generic[K]):
    """Points keyed by `K` (a cloudlet may have several), answering "the k nearest keys".

    A query looks only at the cells inside a bounding box around a circle that
    grows until it holds k keys. The first circle is sized from the average
    density, so on most queries one or two rounds suffice and a query touches
    about as many points as it returns, however large the table.
    """

    def __init__(self) -> None:
        # The caller's own location tuples are stored, not copies: at a million
        # cloudlets, radians kept per point would cost about 180 MB more.
        self._cells: dict[tuple[int, int], dict[K, tuple[Location, ...]]] = {}
        self._points = 0

    def __len__(self) -> int:
        return self._points

    def add(self, key: K, locations: tuple[Location, ...]) -> None:
        for cell, here in _group_by_cell(locations):
            self._cells.setdefault(cell, {})[key] = here
            self._points += len(here)

    def remove(self, key: K, locations: tuple[Location, ...]) -> None:
        for cell, _ in _group_by_cell(locations):
            bucket = self._cells.get(cell)
            if bucket is None:
                continue
            here = bucket.pop(key, ())
            self._points -= len(here)
            if not bucket:
                del self._cells[cell]

    def nearest(self, origin: Location, k: int) -> list[tuple[float, K]]:
        """Up to `k` distinct keys nearest to `origin`, as (distance in km, key), nearest first."""
        if k <= 0 or not self._cells:
            return []
        lat1, lon1 = math.radians(origin[0]), math.radians(origin[1])
        cos1 = math.cos(lat1)
        # The radius that holds k points if they were spread evenly, with some margin.
        radius = max(MIN_RADIUS_KM, 1.5 * math.sqrt(k * EARTH_AREA_KM2 / (math.pi * self._points)))
        while True:
            best: dict[K, float] = {}
            # A point farther in latitude alone than the radius cannot be inside: skip its trig.
            lat_reach = math.degrees(radius / EARTH_RADIUS_KM)
            for bucket in self._cells_within(origin, radius):
                for key, points in bucket.items():
                    for lat_degrees, lon_degrees in points:
                        if abs(lat_degrees - origin[0]) > lat_reach:
                            continue
                        lat2 = math.radians(lat_degrees)
                        a = (
                            math.sin((lat2 - lat1) / 2) ** 2
                            + cos1
                            * math.cos(lat2)
                            * math.sin((math.radians(lon_degrees) - lon1) / 2) ** 2
                        )
                        distance = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
                        if distance <= radius and distance < best.get(key, math.inf):
                            best[key] = distance
            if len(best) >= k or radius >= HALF_CIRCUMFERENCE_KM:
                return heapq.nsmallest(k, ((d, key) for key, d in best.items()), key=_first)
            # Grow by the shortfall, assuming even density, but at least double.
            shortfall = math.sqrt(k / max(len(best), 1))
            radius = min(radius * max(2.0, shortfall * 1.2), HALF_CIRCUMFERENCE_KM)

    def _cells_within(
        self, origin: Location, radius_km: float
    ) -> Iterator[dict[K, tuple[Location, ...]]]:
        for cell in _bounding_cells(origin, radius_km):
            bucket = self._cells.get(cell)
            if bucket:
                yield bucket


def _first(item: tuple[float, object]) -> float:
    return item[0]


def _group_by_cell(
    locations: tuple[Location, ...],
) -> list[tuple[tuple[int, int], tuple[Location, ...]]]:
    if len(locations) == 1:
        return [(_cell(locations[0]), locations)]
    cells: dict[tuple[int, int], list[Location]] = {}
    for location in locations:
        cells.setdefault(_cell(location), []).append(location)
    return [(cell, tuple(points)) for cell, points in cells.items()]


def _bounding_cells(origin: Location, radius_km: float) -> Iterator[tuple[int, int]]:
    """Cells of the bounding box of a spherical cap (J. P. Matuschek's bounding coordinates)."""
    lat = math.radians(origin[0])
    angular = radius_km / EARTH_RADIUS_KM
    lat_min, lat_max = lat - angular, lat + angular
    if lat_min > -math.pi / 2 and lat_max < math.pi / 2:
        delta_lon = math.degrees(math.asin(min(1.0, math.sin(angular) / math.cos(lat))))
        lon_range: tuple[float, float] | None = (origin[1] - delta_lon, origin[1] + delta_lon)
    else:
        lat_min, lat_max = max(lat_min, -math.pi / 2), min(lat_max, math.pi / 2)
        lon_range = None
    first_lat = max(0, math.floor(math.degrees(lat_min) + 90.0))
    last_lat = min(179, math.floor(math.degrees(lat_max) + 90.0))
    if lon_range is None or lon_range[1] - lon_range[0] >= 360.0:
        lon_cells: range | list[int] = range(_LON_CELLS)
    else:
        first_lon = math.floor(lon_range[0] + 180.0)
        last_lon = math.floor(lon_range[1] + 180.0)
        lon_cells = [index % _LON_CELLS for index in range(first_lon, last_lon + 1)]
    for lat_cell in range(first_lat, last_lat + 1):
        for lon_cell in lon_cells:
            yield lat_cell, lon_cell
