"""Client locations from a MaxMind-format city database (GeoLite2-City or compatible)."""

from __future__ import annotations

import logging
from pathlib import Path

import maxminddb

from common.types import IPAddress
from tier1.records import Location

logger = logging.getLogger(__name__)


class GeoIPDatabase:
    """Opened once at start; lookups are in memory (the file is mapped)."""

    def __init__(self, path: Path) -> None:
        self._reader = maxminddb.open_database(str(path))

    def locate(self, address: IPAddress) -> Location | None:
        try:
            record = self._reader.get(address)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        location = record.get("location")
        if not isinstance(location, dict):
            return None
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
            return None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            logger.warning("GeoIP database gave an impossible location for %s", address)
            return None
        return (float(latitude), float(longitude))

    def close(self) -> None:
        self._reader.close()
