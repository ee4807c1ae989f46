"""Annotated field types and id types shared by the wire schema."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, NewType
from uuid import UUID

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

from common.keys import parse_wireguard_key

CloudletId = NewType("CloudletId", UUID)
"""A cloudlet's persistent identity, chosen by its ST-2 and kept on disk."""

AppId = NewType("AppId", UUID)
"""An application's identity; recipes are keyed by it."""

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _parse_key(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("a WireGuard key must be a string")
    return parse_wireguard_key(value)


WIREGUARD_KEY_PATTERN = r"^[A-Za-z0-9+/_-]{42}[AEIMQUYcgkosw048]=?$"
"""The keys `parse_wireguard_key` accepts, for the OpenAPI document: 32 bytes in base64
(standard or URL-safe, padded or not) whose last character leaves the 2 unused bits zero."""

WireGuardKey = Annotated[
    str,
    BeforeValidator(_parse_key),
    WithJsonSchema({"type": "string", "pattern": WIREGUARD_KEY_PATTERN, "minLength": 43}),
]
"""A WireGuard public key, stored in canonical padded standard base64."""


def _parse_network(value: object) -> IPNetwork:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    if not isinstance(value, str):
        raise ValueError("a network is a string such as '10.0.0.0/8' or '2001:db8::/32'")
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 network") from exc
        raise ValueError(f"{value!r} has host bits set; did you mean '{loose}'?") from exc


def _parse_address(value: object) -> IPAddress:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    if not isinstance(value, str):
        raise ValueError("an address is a string such as '192.0.2.1' or '2001:db8::1'")
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from exc


def _parse_interface(value: object) -> IPInterface:
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return value
    if not isinstance(value, str):
        raise ValueError("an interface address is a string such as '10.5.0.2/32'")
    try:
        return ipaddress.ip_interface(value.strip())
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 interface address") from exc


_as_text = PlainSerializer(str, return_type=str)

IPNet = Annotated[IPNetwork, BeforeValidator(_parse_network), _as_text]
"""An IPv4 or IPv6 network; a bare address means a single host (/32 or /128)."""

IPAddr = Annotated[IPAddress, BeforeValidator(_parse_address), _as_text]
"""An IPv4 or IPv6 address."""

IPIface = Annotated[IPInterface, BeforeValidator(_parse_interface), _as_text]
"""An address with its prefix length, as WireGuard's `Address =` takes it."""

Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]

Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
"""A utilisation between 0 (idle) and 1 (saturated)."""

NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]

_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


def _check_endpoint(value: str) -> str:
    """Validate a WireGuard endpoint: `host:port` or `[ipv6]:port`."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError("an endpoint is 'host:port' or '[ipv6]:port'")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} is not between 1 and 65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError as exc:
            raise ValueError(f"{host!r} is not a bracketed IPv6 address") from exc
    elif ":" in host:
        raise ValueError("an IPv6 endpoint must be bracketed: '[2001:db8::1]:51820'")
    elif not _HOSTNAME.fullmatch(host):
        raise ValueError(f"{host!r} is neither an IPv4 address nor a host name")
    return value


Endpoint = Annotated[str, Field(max_length=262), AfterValidator(_check_endpoint)]
"""Where a WireGuard peer listens: `host:port` or `[ipv6]:port`."""

Name = Annotated[str, Field(min_length=1, max_length=253)]
"""A human-readable name, for logs and listings."""

Seconds = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
"""A positive duration in seconds."""
