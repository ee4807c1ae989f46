"""Nearest-k on the sphere agrees with a brute-force scan, including poles and the date line."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import pytest

from common.geo import haversine_km
from tier1.records import Location
from tier1.table.geoindex import GeoIndex


def brute_force(points: Mapping[int, tuple[Location, ...]], origin: Location, k: int) -> list[int]:
    distances = {
        key: min(haversine_km(origin[0], origin[1], lat, lon) for lat, lon in locations)
        for key, locations in points.items()
    }
    return sorted(distances, key=lambda key: (distances[key], key))[:k]


def random_point(rng: random.Random) -> Location:
    # Uniform on the sphere, so polar cells are as sparse as they are in reality.
    return (math.degrees(math.asin(rng.uniform(-1.0, 1.0))), rng.uniform(-180.0, 180.0))


@pytest.mark.parametrize("seed", range(5))
def test_nearest_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    points = {key: (random_point(rng),) for key in range(2000)}
    index: GeoIndex[int] = GeoIndex()
    for key, locations in points.items():
        index.add(key, locations)
    for _ in range(30):
        origin = random_point(rng)
        k = rng.choice([1, 3, 10, 50])
        got = [key for _, key in index.nearest(origin, k)]
        assert got == brute_force(points, origin, k)


@pytest.mark.parametrize(
    "origin",
    [(89.99, 10.0), (-89.99, -170.0), (0.0, 179.99), (0.0, -179.99), (60.0, 180.0)],
)
def test_edges_of_the_map(origin: Location) -> None:
    rng = random.Random(7)
    points = {key: (random_point(rng),) for key in range(500)}
    points[9999] = ((origin[0], -origin[1] if abs(origin[1]) > 179 else origin[1] + 0.5),)
    index: GeoIndex[int] = GeoIndex()
    for key, locations in points.items():
        index.add(key, locations)
    assert [key for _, key in index.nearest(origin, 5)] == brute_force(points, origin, 5)


def test_several_locations_count_once_at_the_nearest() -> None:
    index: GeoIndex[str] = GeoIndex()
    index.add("multi", ((40.0, -80.0), (10.0, 10.0)))
    index.add("single", ((40.5, -80.0),))
    result = index.nearest((10.1, 10.0), 2)
    assert [key for _, key in result] == ["multi", "single"]
    assert result[0][0] == pytest.approx(11.1, abs=0.2)
    assert len(index) == 3


def test_remove_forgets_every_location() -> None:
    index: GeoIndex[str] = GeoIndex()
    index.add("a", ((0.0, 0.0), (0.1, 0.1), (50.0, 50.0)))
    index.add("b", ((1.0, 1.0),))
    index.remove("a", ((0.0, 0.0), (0.1, 0.1), (50.0, 50.0)))
    assert [key for _, key in index.nearest((0.0, 0.0), 5)] == ["b"]
    assert len(index) == 1


def test_empty_and_small_indexes() -> None:
    index: GeoIndex[str] = GeoIndex()
    assert index.nearest((0.0, 0.0), 3) == []
    index.add("far", ((-45.0, 170.0),))
    assert [key for _, key in index.nearest((45.0, -10.0), 3)] == ["far"]
    assert index.nearest((45.0, -10.0), 0) == []
