"""Smoke test: netns_hosts gives reachable test hosts and working userspace WireGuard tunnels."""

from __future__ import annotations

import time

import pytest

from tests.harness.netns import (
    NetnsHost,
    NetnsHosts,
    WireGuardInterface,
    tunnel_address,
    wireguard_keypair,
)

pytestmark = pytest.mark.netns

WIREGUARD_PORT = 51820


def _ping(hosts: NetnsHosts, source: NetnsHost, target: str, attempts: int = 1) -> bool:
    """Ping ``target`` from ``source``; up to ``attempts`` one-second tries."""
    for _ in range(attempts):
        if hosts.run(source, ["ping", "-c", "1", "-W", "1", target], timeout=5).returncode == 0:
            return True
    return False


def test_device_reaches_each_cloudlet_over_veth(netns_hosts: NetnsHosts) -> None:
    for cloudlet in netns_hosts.cloudlets:
        assert _ping(netns_hosts, netns_hosts.device, cloudlet.address), cloudlet
        link = netns_hosts.link(cloudlet)
        assert _ping(netns_hosts, cloudlet, link.device_address), cloudlet


def test_namespaces_are_isolated(netns_hosts: NetnsHosts) -> None:
    first, second = netns_hosts.cloudlets
    interfaces = netns_hosts.run(first, ["ip", "-o", "link", "show"]).stdout
    assert netns_hosts.link(first).cloudlet_interface in interfaces
    assert netns_hosts.link(second).cloudlet_interface not in interfaces
    # The cloudlets share no link: the first cannot reach the second.
    assert not _ping(netns_hosts, first, second.address)


def _tunnel(hosts: NetnsHosts) -> tuple[WireGuardInterface, WireGuardInterface]:
    cloudlet = hosts.cloudlets[0]
    cloudlet_private, cloudlet_public = wireguard_keypair()
    device_private, device_public = wireguard_keypair()
    server = hosts.wireguard_up(
        cloudlet,
        f"""
[Interface]
PrivateKey = {cloudlet_private}
Address = {tunnel_address(1)}/24
ListenPort = {WIREGUARD_PORT}

[Peer]
PublicKey = {device_public}
AllowedIPs = {tunnel_address(2)}/32
""",
    )
    client = hosts.wireguard_up(
        hosts.device,
        f"""
[Interface]
PrivateKey = {device_private}
Address = {tunnel_address(2)}/24

[Peer]
PublicKey = {cloudlet_public}
AllowedIPs = {tunnel_address(0)}/24
Endpoint = {cloudlet.address}:{WIREGUARD_PORT}
PersistentKeepalive = 5
""",
    )
    assert server.public_key == cloudlet_public
    assert client.public_key == device_public
    return server, client


def test_wireguard_tunnel_carries_traffic_until_torn_down(netns_hosts: NetnsHosts) -> None:
    server, client = _tunnel(netns_hosts)
    cloudlet, device = netns_hosts.cloudlets[0], netns_hosts.device
    assert server.name.startswith(netns_hosts.prefix)
    assert client.name.startswith(netns_hosts.prefix)

    started = time.monotonic()
    assert _ping(netns_hosts, device, server.address, attempts=5)
    assert _ping(netns_hosts, cloudlet, client.address, attempts=2)
    handshake_seconds = time.monotonic() - started
    handshakes = netns_hosts.run(cloudlet, ["wg", "show", server.name, "latest-handshakes"])
    peer, _, stamp = handshakes.stdout.strip().partition("\t")
    assert peer == client.public_key
    assert int(stamp) > 0, "no WireGuard handshake recorded on the cloudlet"
    assert handshake_seconds < 10

    netns_hosts.wireguard_down(server)
    assert not _ping(netns_hosts, device, server.address, attempts=2)
    netns_hosts.wireguard_down(client)
    links = netns_hosts.run(device, ["ip", "-o", "link", "show"]).stdout
    assert client.name not in links
    # The underlay still works once the tunnel is gone.
    assert _ping(netns_hosts, device, cloudlet.address)
