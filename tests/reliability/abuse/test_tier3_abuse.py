"""The ST-3 daemon answers this device's own programs only: never a peer from elsewhere, even
one that got a connection through (a port forward, a proxy), and never a page's rebound name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.harness.netns import NetnsHost, NetnsHosts
from tests.harness.processes import stop_popen
from tests.reliability.conftest import ClientFactory, from_peer
from tests.reliability.support import assert_problem, eventually

BACKENDS = "/api/v2/backends"
SCRIPT = Path(sys.executable).with_name("sinfonia-tier3")
CLIENT = Path(__file__).parents[2] / "tier2" / "netns_client.py"


@pytest.mark.parametrize("peer", ["192.0.2.66", "10.250.0.2", "2001:db8::1", "::ffff:192.0.2.1"])
def test_a_peer_that_is_not_loopback_is_refused(tier3_client: ClientFactory, peer: str) -> None:
    daemon = tier3_client()
    for method, path in (("GET", BACKENDS), ("POST", BACKENDS), ("GET", "/api/v2/cloudlets")):
        response = daemon.request(method, path, json={}, headers=from_peer(peer))
        body = assert_problem(response, 403, "forbidden")
        assert "this device" in body["detail"]
    # This device's programs still are answered.
    for local in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert daemon.get(BACKENDS, headers=from_peer(local)).status_code == 200


def test_a_rebound_host_name_is_refused(tier3_client: ClientFactory) -> None:
    daemon = tier3_client()
    response = daemon.get(BACKENDS, headers={"host": "attacker.example:5002"})
    assert_problem(response, 400, "invalid-request")


@pytest.mark.netns
def test_the_daemon_cannot_be_reached_from_another_host(
    netns_hosts: NetnsHosts, tmp_path: Path
) -> None:
    """The real daemon in a cloudlet namespace: its loopback answers, its veth address does not."""
    host = netns_hosts.cloudlets[1]
    port = 5002
    log = (tmp_path / "tier3.log").open("w")
    daemon = netns_hosts.popen(
        host,
        [str(SCRIPT), "serve", "--port", str(port), "--tunnel-mode", "config-only"],
        stdout=log,
        stderr=log,
        env={
            "SINFONIA_TIER3_CACHE_DIR": str(tmp_path / "cache"),
            "SINFONIA_TIER3_TUNNEL__CONFIG_DIR": str(tmp_path / "tunnels"),
        },
    )
    try:

        def call(ns: NetnsHost, url: str) -> int:
            result = netns_hosts.run(ns, [sys.executable, str(CLIENT), "GET", url], timeout=20)
            assert result.returncode == 0, result.stderr
            status: int = json.loads(result.stdout)["status"]
            return status

        local = f"http://127.0.0.1:{port}{BACKENDS}"
        assert eventually(lambda: call(host, local) == 200, seconds=30), (
            tmp_path / "tier3.log"
        ).read_text()
        remote = f"http://{host.address}:{port}{BACKENDS}"
        assert call(netns_hosts.device, remote) == 0  # connection refused: nothing listens there
        assert call(host, remote) == 0  # not even from the same host's own outside address
    finally:
        stop_popen(daemon, "sinfonia-tier3")
        log.close()
