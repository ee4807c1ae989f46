"""deploy_backend end to end: the tunnel, releases, a JIT cloudlet, a cloudlet that goes silent.

The app is this test, using the SDK against the ST-3 daemon in the device
namespace. "The backend" behind a cloudlet is the chosen deployment's
Service ClusterIP, which the test itself serves inside that cloudlet's
namespace (the fake kubelet runs no containers, see `world.py`); the device's
request gets there only through the WireGuard tunnel ST-3 brought up.
"""

from __future__ import annotations

import ipaddress
import signal
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import JIT_APP, JIT_LEASE_SECONDS, TTL_APP, TUNNEL_APP
from tests.e2e.world import KEEPALIVE_INTERVAL, TTL_MULTIPLIER, Cloudlet, World
from tier3.sdk import Backend, Client, RecipeNotFoundError

pytestmark = pytest.mark.e2e

SERVICE_NETWORK = ipaddress.ip_network("10.96.0.0/16")


def _unreachable(world: World, url: str) -> bool:
    try:
        world.fetch_from_device(url, timeout=1.0)
    except httpx.TransportError:
        return True
    return False


def _reach(world: World, cloudlet: Cloudlet, backend: Backend) -> str:
    """Serve the backend's Service address in `cloudlet` and GET it from the device."""
    [service] = backend.services
    assert ipaddress.ip_address(service.host) in SERVICE_NETWORK  # the Service's ClusterIP
    url = f"http://{service.host}:{service.port}/"
    body = f"hello from {backend.deployment.name} on {cloudlet.name}"
    with world.serve_behind(cloudlet, service.host, service.port, body):
        answers: list[str] = []

        def answered() -> bool:
            answers.append(world.fetch_from_device(url).text)
            return True

        world.wait_for(answered, f"the backend on {cloudlet.name} to answer the device")
        return answers[-1]


def _handshake_of(world: World, cloudlet: Cloudlet, backend: Backend) -> int:
    return world.wg_handshakes(cloudlet).get(backend.deployment.client_public_key, 0)


def test_the_device_reaches_the_best_cloudlet_through_wireguard_and_the_rest_is_released(
    world: World, device: Client
) -> None:
    near, far = world.cloudlets
    backend = device.deploy_backend(world.tier1_url, TUNNEL_APP, discover=False, results=3)
    try:
        assert backend.source == "tier1"
        assert backend.candidates == 2  # ST-1 deployed on both
        assert str(backend.deployment.cloudlet) == near.uuid
        assert backend.tunnel.mode == "userspace"
        assert backend.tunnel.interface is not None
        links = world.hosts.run(world.hosts.device, ["ip", "-o", "link", "show"]).stdout
        assert backend.tunnel.interface in links

        answer = _reach(world, near, backend)
        assert answer == f"hello from {backend.deployment.name} on near"
        # It went through the cloudlet's WireGuard gateway, with the device's key.
        assert _handshake_of(world, near, backend) > 0

        # The deployment the app did not choose is released on the far cloudlet.
        world.wait_for(
            lambda: world.live_namespaces(far, TUNNEL_APP) == [],
            "the unchosen deployment on far to be released",
        )
        assert world.live_namespaces(near, TUNNEL_APP) == [backend.deployment.name]
    finally:
        device.release_backend(TUNNEL_APP)

    # Released: the tunnel is gone from the device and the namespace from the cluster.
    links = world.hosts.run(world.hosts.device, ["ip", "-o", "link", "show"]).stdout
    assert backend.tunnel.interface not in links
    assert world.live_namespaces(near, TUNNEL_APP) == []
    [service] = backend.services
    with world.serve_behind(near, service.host, service.port, "still here"):
        assert _unreachable(world, f"http://{service.host}:{service.port}/")


def test_a_jit_cloudlet_comes_first_and_a_released_jit_backend_ends_with_its_lease(
    world: World, device: Client
) -> None:
    near, far = world.cloudlets
    world.wait_for(
        lambda: [str(c.uuid) for c in device.list_cloudlets()] == [far.uuid],
        "the daemon to see far's Zeroconf announcement",
    )
    # Without static scoping, ST-1 is asked too and ranks near first: the JIT cloudlet
    # found on the device's own network still comes first on the short list.
    backend = device.deploy_backend(world.tier1_url, JIT_APP, results=3)
    try:
        assert backend.source == "jit"
        assert str(backend.deployment.cloudlet) == far.uuid
        assert backend.candidates == 2
        answer = _reach(world, far, backend)
        assert answer == f"hello from {backend.deployment.name} on far"
        # ST-1's deployment on near was not chosen: released through ST-1.
        world.wait_for(
            lambda: world.live_namespaces(near, JIT_APP) == [],
            "the unchosen ST-1 deployment on near to be released",
        )
    finally:
        device.release_backend(JIT_APP)

    # What happens now (a known gap): ST-3 tore the tunnel down first and releases the
    # JIT deployment on far directly over the LAN, which ST-2 refuses (403: a device
    # releases its deployments only through its own tunnel). So the deployment lives
    # on until its lease runs out, plus the collector's grace period.
    assert world.live_namespaces(far, JIT_APP) == [backend.deployment.name]
    world.wait_for(
        lambda: world.live_namespaces(far, JIT_APP) == [],
        "the JIT deployment's lease to expire",
        timeout=JIT_LEASE_SECONDS + 30,
    )


def test_a_silent_cloudlet_leaves_st1_after_its_ttl_and_the_app_moves(
    world: World, device: Client
) -> None:
    near, far = world.cloudlets
    assert near.service is not None
    first = device.deploy_backend(world.tier1_url, TTL_APP, discover=False)
    assert str(first.deployment.cloudlet) == near.uuid
    ttl = KEEPALIVE_INTERVAL * TTL_MULTIPLIER
    near.service.popen.send_signal(signal.SIGSTOP)  # no more keepalives, no deregistration
    stopped_at = time.monotonic()
    try:
        assert world.row(near) is not None  # no deregistration: it goes only with its TTL
        world.wait_for(lambda: world.row(near) is None, "ST-1 to drop the silent cloudlet")
        # Gone within its TTL plus the expiry sweep, with slack for a busy machine.
        assert time.monotonic() - stopped_at < ttl + 15

        moved = device.deploy_backend(world.tier1_url, TTL_APP, discover=False)
        assert str(moved.deployment.cloudlet) == far.uuid
        assert moved.generation == first.generation + 1
        assert moved.candidates == 1
        answer = _reach(world, far, moved)
        assert answer == f"hello from {moved.deployment.name} on far"
    finally:
        near.service.popen.send_signal(signal.SIGCONT)
        device.release_backend(TTL_APP)
    # Awake again, its next keepalive is refused (the row is gone) and it registers anew.
    world.wait_for(lambda: world.row(near) is not None, "near to register again")


def test_an_unknown_app_is_a_clear_error(world: World, device: Client) -> None:
    with pytest.raises(RecipeNotFoundError):
        device.deploy_backend(world.tier1_url, uuid.uuid4(), discover=False)
