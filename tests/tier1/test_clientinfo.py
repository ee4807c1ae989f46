"""Client address and location: proxies believed only when trusted; GeoIP from a real .mmdb file."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from common.device import DeviceContext
from common.errors import InvalidRequestError
from common.keys import urlsafe_key
from tests.tier1.conftest import APP, KEY
from tier1.clientinfo import client_address, client_location
from tier1.geoip import GeoIPDatabase

PROXIES = [ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("203.0.113.5", {"x-clientip": "198.51.100.1"}, "203.0.113.5"),  # untrusted: ignored
        ("203.0.113.5", {"x-forwarded-for": "198.51.100.1"}, "203.0.113.5"),
        ("10.1.1.1", {"x-clientip": "198.51.100.1"}, "198.51.100.1"),
        ("10.1.1.1", {"x-forwarded-for": "6.6.6.6, 198.51.100.1, 10.2.2.2"}, "198.51.100.1"),
        ("10.1.1.1", {"x-forwarded-for": "2001:db8::5"}, "2001:db8::5"),
        ("10.1.1.1", {}, "10.1.1.1"),
        ("testclient", {"x-clientip": "198.51.100.1"}, None),
    ],
)
def test_client_address(peer: str, headers: dict[str, str], expected: str | None) -> None:
    address = client_address(peer, headers, PROXIES)
    assert (None if address is None else str(address)) == expected


def test_a_trusted_proxy_sending_garbage_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="X-ClientIP"):
        client_address("10.1.1.1", {"x-clientip": "not-an-ip"}, PROXIES)


def test_location_precedence() -> None:
    device = DeviceContext.model_validate({"location": "1,2"})
    assert client_location("3,4", device, None, None) == (3.0, 4.0)
    assert client_location(None, device, None, None) == (1.0, 2.0)
    assert client_location(None, None, None, None) is None
    with pytest.raises(InvalidRequestError, match="X-Location"):
        client_location("91,0", None, None, None)


@pytest.fixture
def geoip_db(tmp_path: Path) -> Path:
    """A tiny MaxMind-format city database: two networks with locations."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City")
    writer.insert_network(
        IPSet(["198.51.100.0/24"]), {"location": {"latitude": 40.44, "longitude": -79.94}}
    )
    writer.insert_network(
        IPSet(["2001:db8::/32"]), {"location": {"latitude": 51.5, "longitude": -0.12}}
    )
    path = tmp_path / "city.mmdb"
    writer.to_db_file(str(path))
    return path


def test_geoip_database_locates_v4_and_v6(geoip_db: Path) -> None:
    database = GeoIPDatabase(geoip_db)
    try:
        assert database.locate(ipaddress.ip_address("198.51.100.7")) == (40.44, -79.94)
        assert database.locate(ipaddress.ip_address("2001:db8::1")) == (51.5, -0.12)
        assert database.locate(ipaddress.ip_address("192.0.2.1")) is None
    finally:
        database.close()


def test_geoip_ranks_cloudlets_for_clients_that_send_no_location(
    make_client: Callable[..., TestClient], geoip_db: Path
) -> None:
    client = make_client(client=("198.51.100.7", 5555), clients={"geoip_database": geoip_db})
    for number, location in ((1, [51.5, -0.12]), (2, [40.45, -79.95])):
        body = {
            "cloudlet": {
                "uuid": f"00000000-0000-0000-0000-00000000000{number}",
                "name": f"edge-{number}",
                "endpoint": "http://127.0.0.1:9/",
                "public_key": KEY,
                "locations": [location],
            }
        }
        assert client.post("/api/v2/cloudlets", json=body).status_code == 201
    ranked = client.get(f"/api/v2/deploy/{APP}/{urlsafe_key(KEY)}").json()
    assert [row["name"] for row in ranked] == ["edge-2", "edge-1"]
