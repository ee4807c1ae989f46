"""Field types: networks, addresses, endpoints, coordinates and keys inside models."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import BaseModel, ValidationError

from common.types import Endpoint, IPAddr, IPIface, IPNet, Latitude, Longitude, WireGuardKey

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


class Holder(BaseModel):
    network: IPNet | None = None
    address: IPAddr | None = None
    interface: IPIface | None = None
    endpoint: Endpoint | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    key: WireGuardKey | None = None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/8", ipaddress.ip_network("10.0.0.0/8")),
        ("192.0.2.7", ipaddress.ip_network("192.0.2.7/32")),
        ("2001:db8::/32", ipaddress.ip_network("2001:db8::/32")),
        ("::/0", ipaddress.ip_network("::/0")),
        (" 0.0.0.0/0 ", ipaddress.ip_network("0.0.0.0/0")),
    ],
)
def test_networks_parse_ipv4_and_ipv6(text: str, expected: object) -> None:
    assert Holder(network=text).network == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.1/8", "did you mean '10.0.0.0/8'"),
        ("2001:db8::1/32", "did you mean '2001:db8::/32'"),
        ("10.0.0.0/33", "not an IPv4 or IPv6 network"),
        ("example.org", "not an IPv4 or IPv6 network"),
        ("", "not an IPv4 or IPv6 network"),
    ],
)
def test_networks_reject_with_a_helpful_message(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Holder(network=text)  # type: ignore[arg-type]


def test_network_rejects_non_string() -> None:
    with pytest.raises(ValidationError, match="a network is a string"):
        Holder(network=167772160)  # type: ignore[arg-type]


def test_networks_serialise_as_text() -> None:
    holder = Holder(network="2001:db8::/32", address="192.0.2.1", interface="10.5.0.2/32")  # type: ignore[arg-type]
    assert holder.model_dump(mode="json", exclude_none=True) == {
        "network": "2001:db8::/32",
        "address": "192.0.2.1",
        "interface": "10.5.0.2/32",
    }


@pytest.mark.parametrize("text", ["192.0.2.300", "1.2.3", "::g", "10.0.0.0/8"])
def test_addresses_reject_garbage(text: str) -> None:
    with pytest.raises(ValidationError, match="not an IPv4 or IPv6 address"):
        Holder(address=text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["192.0.2.1:51820", "[2001:db8::1]:51820", "cloudlet.example.org:443", "gw:1"],
)
def test_endpoints_accept_host_port_forms(text: str) -> None:
    assert Holder(endpoint=text).endpoint == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("192.0.2.1", "host:port"),
        (":51820", "host:port"),
        ("192.0.2.1:0", "between 1 and 65535"),
        ("192.0.2.1:65536", "between 1 and 65535"),
        ("192.0.2.1:http", "between 1 and 65535"),
        ("2001:db8::1:51820", "must be bracketed"),
        ("[2001:db8::zz]:51820", "bracketed IPv6"),
        ("bad_host!:80", "neither an IPv4 address nor a host name"),
    ],
)
def test_endpoints_reject_malformed(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Holder(endpoint=text)


@pytest.mark.parametrize(("lat", "lon"), [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0)])
def test_coordinates_accept_bounds(lat: float, lon: float) -> None:
    holder = Holder(latitude=lat, longitude=lon)
    assert (holder.latitude, holder.longitude) == (lat, lon)


@pytest.mark.parametrize(
    "field",
    [
        {"latitude": 90.0001},
        {"latitude": -91},
        {"longitude": 180.5},
        {"longitude": -181},
        {"latitude": float("nan")},
        {"longitude": float("inf")},
    ],
)
def test_coordinates_reject_out_of_range(field: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Holder(**field)  # type: ignore[arg-type]


def test_key_field_canonicalises_urlsafe_unpadded() -> None:
    urlsafe = KEY.rstrip("=").replace("+", "-").replace("/", "_")
    assert Holder(key=urlsafe).key == KEY


def test_key_field_rejects_bytes_and_short_keys() -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        Holder(key=b"x" * 32)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="43 base64 characters"):
        Holder(key=KEY[:20])
