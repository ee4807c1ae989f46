"""ST-2 as a real process in a cloudlet namespace: Zeroconf, JIT deploy, a real WireGuard tunnel.

The device namespace finds the cloudlet over mDNS, deploys without a
credential from the local network, configures wireguard-go from the reply's
TunnelConfig and reaches the backend behind the cloudlet's interface; then it
sees and releases its deployment through its own tunnel. Stopping ST-2 takes
the interface down and withdraws the announcement.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.deployment import Deployment
from common.keys import urlsafe_key
from tests.harness.mdns import REPO_ROOT, SERVICE_TYPE, agent_argv
from tests.harness.netns import NetnsHosts, tunnel_address, wireguard_keypair
from tests.harness.processes import stop_popen
from tests.support.wireguard import device_config
from tests.tier2.conftest import LOCAL_APP, eventually, local_recipe, write_recipes

pytestmark = [pytest.mark.netns, pytest.mark.zeroconf]

CLIENT = Path(__file__).with_name("netns_client.py")
SHORT_APP = uuid.UUID("00000000-0000-4000-8000-00000000e541")
API_PORT = 5001
WG_PORT = 51820
SCRIPT = Path(sys.executable).with_name("sinfonia-tier2")


def _call(hosts: NetnsHosts, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    argv = [sys.executable, str(CLIENT), method, url]
    if body is not None:
        argv.append(json.dumps(body))
    result = hosts.run(hosts.device, argv, timeout=20)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    return answer["status"], answer["body"]


def _browse(hosts: NetnsHosts, timeout: float) -> dict[str, Any]:
    address = hosts.link(hosts.cloudlets[0]).device_address
    result = hosts.run(
        hosts.device,
        agent_argv("browse", "--address", address, "--timeout", str(timeout)),
        timeout=timeout + 10,
        cwd=REPO_ROOT,
    )
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_device_finds_deploys_and_reaches_the_backend_through_wireguard(
    netns_hosts: NetnsHosts, tmp_path: Path
) -> None:
    cloudlet = netns_hosts.cloudlets[0]
    interface = f"{netns_hosts.prefix}st2"
    gateway = tunnel_address(1)
    api = f"http://{cloudlet.address}:{API_PORT}"
    config = {
        "host": "0.0.0.0",
        "port": API_PORT,
        "api_url": api,
        "state_dir": str(tmp_path / "state"),
        "recipes_dir": str(
            write_recipes(
                tmp_path / "recipes", local_recipe(), local_recipe(lease_seconds=1.0, app=SHORT_APP)
            )
        ),
        "jit": True,
        "cloudlet": {"name": "netns-cloudlet", "local_networks": ["10.250.0.0/24"]},
        "local": {"bind_host": gateway},
        "tunnel": {
            "mode": "managed",
            "interface": interface,
            "listen_port": WG_PORT,
            "endpoint": f"{cloudlet.address}:{WG_PORT}",
            "client_pool": "10.251.0.0/24",
        },
        "lifecycle": {
            "gc_interval": 0.5,
            "peer_linger": 0.5,
            "idle_timeout": 2.0,
            "expiring_grace": 1.0,
        },
        "zeroconf": {"enabled": True, "interfaces": [cloudlet.address]},
    }
    config_path = tmp_path / "tier2.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log = (tmp_path / "tier2.log").open("w")
    st2 = netns_hosts.popen(
        cloudlet, [str(SCRIPT), "serve", "--config", str(config_path)], stdout=log, stderr=log
    )
    device_tunnel = None
    try:
        assert eventually(
            lambda: _call(netns_hosts, "GET", f"{api}/readyz")[0] == 200, seconds=30
        ), (tmp_path / "tier2.log").read_text()

        found = _browse(netns_hosts, timeout=10)
        assert found["event"] == "found", found
        assert found["name"].endswith(SERVICE_TYPE)
        assert found["addresses"] == [cloudlet.address]
        assert found["port"] == API_PORT
        assert found["properties"]["api"] == api
        assert found["properties"]["version"]
        uuid = found["properties"]["uuid"]

        private_key, public_key = wireguard_keypair()
        body = {"app": str(LOCAL_APP), "client_public_key": public_key}
        status, reply = _call(
            netns_hosts, "POST", f"{found['properties']['api']}/api/v2/deployments", body
        )
        assert status == 201, reply
        deployment = Deployment.model_validate(reply)
        assert str(deployment.cloudlet) == uuid
        [service] = deployment.services
        assert service.host == gateway
        path = f"/api/v2/deployments/{LOCAL_APP}/{urlsafe_key(public_key)}"
        # From the LAN the device may deploy but not look: that takes its tunnel.
        assert _call(netns_hosts, "GET", api + path)[0] == 403
        backend = f"http://{service.host}:{service.port}/"
        assert _call(netns_hosts, "GET", backend)[0] == 0  # no route before the tunnel

        device_tunnel = netns_hosts.wireguard_up(
            netns_hosts.device,
            device_config(private_key, deployment),
            name=f"{netns_hosts.prefix}dev",
        )
        reached = eventually(lambda: _call(netns_hosts, "GET", backend)[0] == 200, seconds=10)
        assert reached, (
            netns_hosts.run(cloudlet, ["wg", "show", interface]).stdout
            + netns_hosts.run(netns_hosts.device, ["wg", "show"]).stdout
            + netns_hosts.run(netns_hosts.device, ["ip", "route"]).stdout
            + netns_hosts.run(cloudlet, ["ip", "addr"]).stdout
            + str(_call(netns_hosts, "GET", backend))
        )
        assert _call(netns_hosts, "GET", backend)[1] == f"hello from {deployment.name}\n"

        handshakes = netns_hosts.run(cloudlet, ["wg", "show", interface, "latest-handshakes"])
        peer, _, stamp = handshakes.stdout.strip().partition("\t")
        assert peer == public_key
        assert int(stamp) > 0

        # A one-second lease outlives its lease while the device uses its tunnel
        # (PersistentKeepalive sends bytes every second): the collector renews it.
        short = {"app": str(SHORT_APP), "client_public_key": public_key}
        status, reply = _call(netns_hosts, "POST", f"{api}/api/v2/deployments", short)
        assert status == 201, reply
        short_path = f"http://{gateway}:{API_PORT}/api/v2/deployments/{SHORT_APP}/"
        short_path += urlsafe_key(public_key)
        time.sleep(4.0)
        status, kept = _call(netns_hosts, "GET", short_path)
        assert status == 200, kept
        assert kept["status"] == "Deployed"
        assert kept["expires"] > reply["expires"]

        through_tunnel = f"http://{gateway}:{API_PORT}{path}"
        status, seen = _call(netns_hosts, "GET", through_tunnel)
        assert status == 200, seen
        assert seen["name"] == deployment.name
        assert _call(netns_hosts, "DELETE", through_tunnel)[0] == 204

        # Once the device stops using its tunnel, the short lease runs out for good.
        netns_hosts.wireguard_down(device_tunnel)
        device_tunnel = None
        assert eventually(
            lambda: _call(netns_hosts, "GET", f"{api}/api/v2/cloudlet")[1]["deployments"] == {},
            seconds=10,
        )
        # The peer lingers a moment (the answer above came through it), then goes.
        assert eventually(
            lambda: (
                public_key
                not in netns_hosts.run(cloudlet, ["wg", "show", interface, "peers"]).stdout
            ),
            seconds=5,
        )
        assert _call(netns_hosts, "GET", backend)[0] == 0
    finally:
        if device_tunnel is not None:
            netns_hosts.wireguard_down(device_tunnel)
        stop_popen(st2, "sinfonia-tier2")
        log.close()
    # uvicorn re-raises SIGTERM after a graceful shutdown, so -15 is a clean exit here.
    output = (tmp_path / "tier2.log").read_text()
    assert st2.returncode in (0, -15), output
    assert "Application shutdown complete" in output
    links = netns_hosts.run(cloudlet, ["ip", "-o", "link", "show"]).stdout
    assert interface not in links
    assert _browse(netns_hosts, timeout=3)["event"] == "timeout"
