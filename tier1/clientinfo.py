"""Who is asking: the client's address (trusting proxies only when configured) and location."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Protocol

from pydantic import ValidationError

from common.device import DeviceContext, NetworkType
from common.errors import InvalidRequestError
from common.geo import GeoLocation
from common.types import IPAddress, IPNetwork
from tier1.records import Location
from tier1.selection.interface import ClientContext

MAX_FORWARDED_HOPS = 32


class Geolocator(Protocol):
    def locate(self, address: IPAddress) -> Location | None: ...


def client_address(
    peer: str | None, headers: Mapping[str, str], trusted_proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    """The connection's peer, unless it is a trusted proxy that says who it forwards for.

    `X-ClientIP` (the v1 header) wins over `X-Forwarded-For`; in the latter the
    client is the right-most address that is not itself a trusted proxy.
    """
    address = _parse_peer(peer)
    if address is None or not _trusted(address, trusted_proxies):
        return address
    declared = headers.get("x-clientip")
    if declared:
        return _parse_header_address(declared, "X-ClientIP")
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")][-MAX_FORWARDED_HOPS:]
        chain = [_parse_header_address(hop, "X-Forwarded-For") for hop in hops if hop]
        for hop in reversed(chain):
            if not _trusted(hop, trusted_proxies):
                return hop
        if chain:
            return chain[0]
    return address


def client_location(
    header: str | None,
    device: DeviceContext | None,
    address: IPAddress | None,
    geolocator: Geolocator | None,
) -> Location | None:
    """`X-Location`, else what the device said, else GeoIP of its address, else unknown."""
    if header:
        try:
            return GeoLocation.from_header(header).as_pair()
        except ValidationError as exc:
            raise InvalidRequestError(
                f"X-Location must be 'latitude,longitude' within range: {header[:64]!r}"
            ) from exc
    if device is not None and device.location is not None:
        return device.location.as_pair()
    if address is not None and geolocator is not None:
        return geolocator.locate(address)
    return None


def build_client_context(
    *,
    peer: str | None,
    headers: Mapping[str, str],
    device: DeviceContext | None,
    trusted_proxies: Sequence[IPNetwork],
    geolocator: Geolocator | None,
) -> ClientContext:
    address = client_address(peer, headers, trusted_proxies)
    location = client_location(headers.get("x-location"), device, address, geolocator)
    network = device.network if device is not None else NetworkType.UNKNOWN
    return ClientContext(address=address, location=location, network=network)


def _parse_peer(peer: str | None) -> IPAddress | None:
    if not peer:
        return None
    try:
        return _unmapped(ipaddress.ip_address(peer))
    except ValueError:
        return None  # a Unix socket or a test client: no address to go by


def _parse_header_address(value: str, header: str) -> IPAddress:
    try:
        return _unmapped(ipaddress.ip_address(value.strip()))
    except ValueError as exc:
        raise InvalidRequestError(f"{header} is not an IP address: {value[:64]!r}") from exc


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4 client on a dual-stack socket shows as `::ffff:a.b.c.d`; it is `a.b.c.d`.

    Without this, IPv4 ACLs (a cloudlet's rejected clients, trusted proxies)
    would not match it.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted_proxies)
