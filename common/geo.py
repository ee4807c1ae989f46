"""Geolocation: a point on Earth, the `lat,lon` header form, and great-circle distance."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from common.types import Latitude, Longitude

EARTH_RADIUS_KM = 6371.0088


class GeoLocation(BaseModel):
    """A point on Earth in decimal degrees (WGS 84).

    Native JSON is `{"latitude": .., "longitude": ..}`; the v1 `[lat, lon]`
    pair and the `"lat,lon"` string of the `X-Location` header parse too.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    latitude: Latitude
    longitude: Longitude

    @model_validator(mode="before")
    @classmethod
    def _from_pair_or_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = _split_pair(value)
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a location is exactly two numbers: latitude, longitude")
            return {"latitude": value[0], "longitude": value[1]}
        return value

    @classmethod
    def from_header(cls, text: str) -> GeoLocation:
        """Parse the `X-Location: lat,lon` header form."""
        return cls.model_validate(text)

    def as_pair(self) -> tuple[float, float]:
        """Return `(latitude, longitude)`, the v1 wire form."""
        return (self.latitude, self.longitude)

    def distance_km(self, other: GeoLocation) -> float:
        """Great-circle distance to `other` in kilometres (haversine)."""
        return haversine_km(self.latitude, self.longitude, other.latitude, other.longitude)


def _split_pair(text: str) -> list[str]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError("a location header is 'latitude,longitude', e.g. '40.44,-79.94'")
    return parts


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = math.radians(lon2 - lon1) / 2.0
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
