"""Zeroconf discovery: announcement parsing, interface choice, and a real browse on loopback."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime

import ifaddr
import pytest
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from tier3.daemon.discovery import (
    SERVICE_TYPE,
    ZeroconfDiscovery,
    parse_announcement,
    resolve_interfaces,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)
CLOUDLET = uuid.UUID("b7f1a2d0-0000-4000-8000-000000000001")


def test_an_announcement_names_its_api_uuid_and_version() -> None:
    cloudlet = parse_announcement(
        f"edge-1.{SERVICE_TYPE}",
        {b"uuid": str(CLOUDLET).encode(), b"api": b"http://10.0.0.5:5001", b"version": b"2"},
        ["10.0.0.5"],
        NOW,
    )
    assert cloudlet is not None
    assert cloudlet.name == "edge-1"
    assert cloudlet.uuid == CLOUDLET
    assert str(cloudlet.api) == "http://10.0.0.5:5001/"
    assert cloudlet.version == "2"
    assert [str(a) for a in cloudlet.addresses] == ["10.0.0.5"]


@pytest.mark.parametrize(
    ("properties", "usable", "uuid_kept"),
    [
        ({b"uuid": str(CLOUDLET).encode()}, False, False),  # no api
        ({b"api": b"not a url"}, False, False),
        ({b"api": b"ftp://10.0.0.5/"}, False, False),
        ({b"api": b"http://10.0.0.5:5001", b"uuid": b"garbage"}, True, False),
        ({b"api": b"http://10.0.0.5:5001", b"version": None}, True, False),
    ],
)
def test_unusable_announcements_are_ignored(
    properties: dict[bytes, bytes | None], usable: bool, uuid_kept: bool
) -> None:
    cloudlet = parse_announcement(f"x.{SERVICE_TYPE}", properties, [], NOW)
    assert (cloudlet is not None) is usable
    if cloudlet is not None:
        assert (cloudlet.uuid is not None) is uuid_kept


def test_interfaces_are_addresses_or_names_never_everything() -> None:
    adapters = [
        ifaddr.Adapter(
            "lo", "lo", [ifaddr.IP("127.0.0.1", 8, "lo"), ifaddr.IP(("::1", 0, 0), 128, "lo")]
        ),
        ifaddr.Adapter("wlan0", "wlan0", [ifaddr.IP("192.168.1.20", 24, "wlan0")]),
        ifaddr.Adapter("v6only", "v6only", [ifaddr.IP(("fe80::1", 0, 3), 64, "v6only")]),
    ]
    assert resolve_interfaces(["wlan0", "127.0.0.1", "192.168.1.20"], adapters) == [
        "192.168.1.20",
        "127.0.0.1",
    ]
    with pytest.raises(ValueError, match="not an address of any network interface"):
        resolve_interfaces(["10.1.2.3"], adapters)
    assert resolve_interfaces([], adapters) == []
    with pytest.raises(ValueError, match="no network interface named 'eth9'"):
        resolve_interfaces(["eth9"], adapters)
    with pytest.raises(ValueError, match="no IPv4 address"):
        resolve_interfaces(["v6only"], adapters)
    with pytest.raises(ValueError, match="IPv4 only"):
        resolve_interfaces(["::1"], adapters)
    with pytest.raises(ValueError, match="at least one"):
        ZeroconfDiscovery([])


@pytest.mark.zeroconf
async def test_a_cloudlet_announced_on_loopback_is_found_and_can_be_forgotten() -> None:
    name = f"st3-test-{uuid.uuid4().hex[:8]}"
    info = ServiceInfo(
        SERVICE_TYPE,
        f"{name}.{SERVICE_TYPE}",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=5001,
        properties={"uuid": str(CLOUDLET), "api": "http://127.0.0.1:5001", "version": "1"},
        server=f"{name}.local.",
    )
    announcer = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        await announcer.async_register_service(info)
        async with ZeroconfDiscovery(["127.0.0.1"]) as discovery:
            await discovery.fetch_cloudlets(wait_timeout=5.0)
            # Other tests on this machine may announce on loopback too: wait for ours.
            deadline = asyncio.get_running_loop().time() + 5.0
            while not (ours := [c for c in discovery.get_cloudlets() if c.name == name]):
                assert asyncio.get_running_loop().time() < deadline, "not found in time"
                await asyncio.sleep(0.05)
            assert len(ours) == 1
            assert ours[0].uuid == CLOUDLET
            assert str(ours[0].api) == "http://127.0.0.1:5001/"
            discovery.forget(name)
            assert name not in [c.name for c in discovery.get_cloudlets()]
    finally:
        await announcer.async_unregister_all_services()
        await announcer.async_close()
