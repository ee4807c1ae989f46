"""Estimated round-trip time between a client and a cloudlet, from networks and distance."""

from __future__ import annotations

from common.geo import haversine_km
from tier1.netmatch import AddrKey, any_contains
from tier1.records import CloudletRecord, Location

LOCAL_RTT_SECONDS = 0.002
"""A client on the cloudlet's own network: one or two wireless hops."""

BASE_RTT_SECONDS = 0.005
"""Access network and stack overhead that distance does not explain."""

SECONDS_PER_KM_ROUND_TRIP = 2 * 1.5 / 200_000.0
"""Light in fibre covers about 200,000 km/s; real paths run about 1.5 times the great circle."""


def nearest_km(site: CloudletRecord, location: Location) -> float | None:
    if not site.locations:
        return None
    return min(haversine_km(location[0], location[1], lat, lon) for lat, lon in site.locations)


def estimate_rtt(
    site: CloudletRecord, address: AddrKey | None, location: Location | None
) -> float | None:
    """Seconds, or None when neither the network nor the geography says anything."""
    if address is not None and any_contains(site.local_networks, address):
        return LOCAL_RTT_SECONDS
    if location is None:
        return None
    distance = nearest_km(site, location)
    if distance is None:
        return None
    return BASE_RTT_SECONDS + distance * SECONDS_PER_KM_ROUND_TRIP
