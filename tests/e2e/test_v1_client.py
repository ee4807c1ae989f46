"""An original Sinfonia Tier-3 client against the real ST-1 and ST-2: the v1 exchange, unchanged.

The original client (cmusatyalab/sinfonia-tier3, `sinfonia_deploy`) does
`requests.post(f"{tier1}/api/v1/deploy/{uuid}/{key.urlsafe}")`: no query, no
body, no headers of its own, the key URL-safe base64 without padding. It
checks the answer against the original's OpenAPI schema (a list of
`CloudletDeployment`, each requiring UUID, ApplicationKey, Status, Expires and
TunnelConfig{publicKey, allowedIPs, endpoint, address, dns}), then builds its
WireGuard configuration from those fields the way `WireguardConfig.from_dict`
does. This test repeats each of those steps from the device namespace, then
brings the tunnel up from that configuration and reaches the backend.
"""

from __future__ import annotations

import base64
import ipaddress
import uuid
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.e2e.crossns import call_in
from tests.e2e.world import HELLOWORLD, Cloudlet, World, urlsafe
from tests.harness.netns import wireguard_keypair

pytestmark = pytest.mark.e2e

#: The original's OpenAPI schema, `CloudletDeployment.required` and `WireguardConfig.required`.
DEPLOYMENT_REQUIRED = {"UUID", "ApplicationKey", "Status", "Expires", "TunnelConfig"}
TUNNEL_REQUIRED = {"publicKey", "allowedIPs", "endpoint", "address", "dns"}
#: What the original writes into its WireGuard configuration for every peer.
ORIGINAL_KEEPALIVE = 30


def _original_key(value: str) -> bytes:
    """The original's `convert_wireguard_key`: URL-safe base64, padding optional, 32 bytes."""
    raw = base64.urlsafe_b64decode(value + "==")
    assert len(raw) == 32, value
    return raw


def _original_tunnel(private_key: str, config: dict[str, Any]) -> str:
    """The original's `WireguardConfig.from_dict`, written out as a wg-quick file."""
    addresses = [ipaddress.ip_interface(address) for address in config["address"]]
    endpoint_host, endpoint_port = config["endpoint"].rsplit(":")
    allowed = [ipaddress.ip_interface(network) for network in config["allowedIPs"]]
    for entry in config["dns"]:
        assert isinstance(entry, str)
    return "\n".join(
        [
            "[Interface]",
            f"PrivateKey = {private_key}",
            f"Address = {', '.join(str(a) for a in addresses)}",
            "",
            "[Peer]",
            f"PublicKey = {base64.b64encode(_original_key(config['publicKey'])).decode()}",
            f"AllowedIPs = {', '.join(str(a) for a in allowed)}",
            f"Endpoint = {ipaddress.ip_address(endpoint_host)}:{int(endpoint_port)}",
            f"PersistentKeepalive = {ORIGINAL_KEEPALIVE}",
            "",
        ]
    )


def _cloudlet_with_key(world: World, public_key: bytes) -> Cloudlet:
    for cloudlet in world.cloudlets:
        row = world.row(cloudlet)
        assert row is not None
        if base64.b64decode(row["static"]["public_key"]) == public_key:
            return cloudlet
    raise AssertionError("the tunnel's public key is no cloudlet's")


def test_an_original_client_deploys_tunnels_and_reaches_the_backend(world: World) -> None:
    private_key, public_key = wireguard_keypair()
    url = f"{world.tier1_url}/api/v1/deploy/{HELLOWORLD}/{urlsafe(public_key)}"
    device = world.hosts.device.namespace

    response = call_in(device, lambda: requests.post(url, timeout=60))
    response.raise_for_status()
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/json"
    answer = response.json()
    assert isinstance(answer, list)
    assert len(answer) == 1  # `results` defaults to 1
    [deployment] = answer

    assert deployment.keys() >= DEPLOYMENT_REQUIRED
    assert uuid.UUID(deployment["UUID"]) == HELLOWORLD
    assert _original_key(deployment["ApplicationKey"]) == base64.b64decode(public_key)
    assert deployment["Status"] == "Deployed"
    expires = datetime.fromisoformat(deployment["Expires"])
    created = datetime.fromisoformat(deployment["Created"])
    assert expires > created
    name = deployment["DeploymentName"]
    assert isinstance(name, str)
    assert name
    tunnel = deployment["TunnelConfig"]
    assert tunnel.keys() >= TUNNEL_REQUIRED
    for listed in ("allowedIPs", "address", "dns"):
        assert isinstance(tunnel[listed], list), listed
    assert all(isinstance(entry, str) for entry in tunnel["allowedIPs"] + tunnel["address"])

    cloudlet = _cloudlet_with_key(world, _original_key(tunnel["publicKey"]))
    assert tunnel["endpoint"] == f"{cloudlet.address}:51820"
    assert world.live_namespaces(cloudlet, HELLOWORLD) == [name]
    assert world.kube is not None
    service = world.kube.get(f"/api/v1/namespaces/{name}/services/helloworld")["spec"]
    cluster_ip, port = service["clusterIP"], service["ports"][0]["port"]
    assert f"{cluster_ip}/32" in tunnel["allowedIPs"]

    interface = world.hosts.wireguard_up(
        world.hosts.device,
        _original_tunnel(private_key, tunnel),
        name=f"{world.hosts.prefix}v1",
    )
    try:
        with world.serve_behind(cloudlet, cluster_ip, port, f"hello, original client of {name}"):
            answered: list[str] = []

            def reached() -> bool:
                answered.append(world.fetch_from_device(f"http://{cluster_ip}:{port}/").text)
                return True

            world.wait_for(reached, "the backend through the original client's tunnel")
        assert answered[-1] == f"hello, original client of {name}"
    finally:
        world.hosts.wireguard_down(interface)

    released = call_in(device, lambda: requests.delete(url, timeout=30))
    assert released.status_code == 204, released.text
    assert world.live_namespaces(cloudlet, HELLOWORLD) == []
