"""The tunnel config in each reply, and reading peer usage from `wg show` output."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime

from common.deployment import DeploymentStatus
from common.types import AppId
from tier2.lifecycle import PeerUsage
from tier2.records import DeploymentKey, DeploymentRecord, Placement
from tier2.tunnel.config import TunnelInfo, build_tunnel_config, split_dns
from tier2.tunnel.wireguard import parse_usage

KEY_A = "A" * 43 + "="
KEY_B = "B" * 42 + "A="


def _record(routes: tuple[str, ...], domains: tuple[str, ...] = ()) -> DeploymentRecord:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return DeploymentRecord(
        key=DeploymentKey(AppId(uuid.UUID(int=1)), KEY_A),
        app_name="app",
        status=DeploymentStatus.DEPLOYED,
        created=now,
        expires=now,
        lease_seconds=60.0,
        client_address=ipaddress.ip_interface("10.251.0.7/32"),
        placement=Placement(
            name="sf-app-1",
            routes=tuple(ipaddress.ip_network(r) for r in routes),
            search_domains=domains,
        ),
    )


def test_routes_cover_gateway_services_and_dns_once_each() -> None:
    servers, domains = split_dns(["10.96.0.10", "example.org", "fd00::53"])
    assert [str(s) for s in servers] == ["10.96.0.10", "fd00::53"]
    assert domains == ("example.org",)
    info = TunnelInfo(
        public_key=KEY_B,
        endpoint="198.51.100.4:51820",
        gateway=ipaddress.ip_address("10.251.0.1"),
        dns_servers=(ipaddress.ip_address("10.96.0.10"),),
        search_domains=("cluster.local", "example.org"),
        routes=(ipaddress.ip_network("10.96.0.0/16"),),
    )
    record = _record(
        ("10.96.0.20/32", "10.96.0.21/32", "10.96.0.20/32"),
        ("sf-app-1.svc.cluster.local", "svc.cluster.local", "cluster.local"),
    )
    config = build_tunnel_config(record, info)
    assert config.public_key == KEY_B
    assert config.endpoint == "198.51.100.4:51820"
    assert [str(a) for a in config.address] == ["10.251.0.7/32"]
    assert [str(n) for n in config.allowed_ips] == [
        "10.251.0.1/32",
        "10.96.0.20/32",
        "10.96.0.21/32",
        "10.96.0.10/32",
        "10.96.0.0/16",
    ]
    assert config.dns == [
        "10.96.0.10",
        "sf-app-1.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
        "example.org",
    ]
    assert config.dns_servers == ["10.96.0.10"]


def test_parse_usage_joins_handshakes_and_transfer() -> None:
    handshakes = f"{KEY_A}\t1767225600\n{KEY_B}\t0\n"
    transfer = f"{KEY_A}\t1234\t99\n{KEY_B}\t0\t0\n"
    usage = parse_usage(handshakes, transfer)
    assert usage == {
        KEY_A: PeerUsage(datetime(2026, 1, 1, tzinfo=UTC), 1234),
        KEY_B: PeerUsage(None, 0),
    }
    assert parse_usage("", "") == {}
