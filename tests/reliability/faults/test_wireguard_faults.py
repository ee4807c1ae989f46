"""The cloudlet's WireGuard interface vanishes under a running ST-2 (someone deletes the link,
wireguard-go dies): ST-2 brings it back with its key, port and every device's peer, and the
device's tunnel works again without the device doing anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.deployment import Deployment
from tests.harness.netns import NetnsHosts, tunnel_address, wireguard_keypair
from tests.harness.processes import stop_popen
from tests.reliability.support import eventually
from tests.support.wireguard import device_config
from tests.tier2.conftest import LOCAL_APP, local_recipe, write_recipes

pytestmark = pytest.mark.netns

CLIENT = Path(__file__).parents[2] / "tier2" / "netns_client.py"
SCRIPT = Path(sys.executable).with_name("sinfonia-tier2")
API_PORT = 5001
WG_PORT = 51821


def test_a_vanished_interface_is_recreated_with_its_peers(
    netns_hosts: NetnsHosts, tmp_path: Path
) -> None:
    cloudlet = netns_hosts.cloudlets[1]
    interface = f"{netns_hosts.prefix}rel"
    api = f"http://{cloudlet.address}:{API_PORT}"

    def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
        argv = [sys.executable, str(CLIENT), method, url]
        if body is not None:
            argv.append(json.dumps(body))
        result = netns_hosts.run(netns_hosts.device, argv, timeout=20)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        return answer["status"], answer["body"]

    def wg(*args: str) -> str:
        return netns_hosts.run(cloudlet, ["wg", "show", interface, *args]).stdout

    config = {
        "host": "0.0.0.0",
        "port": API_PORT,
        "api_url": api,
        "state_dir": str(tmp_path / "state"),
        "recipes_dir": str(write_recipes(tmp_path / "recipes", local_recipe())),
        "jit": True,
        "cloudlet": {"name": "wg-fault", "local_networks": ["10.250.0.0/24"]},
        "local": {"bind_host": tunnel_address(1)},
        "tunnel": {
            "mode": "managed",
            "interface": interface,
            "listen_port": WG_PORT,
            "endpoint": f"{cloudlet.address}:{WG_PORT}",
            "client_pool": "10.251.0.0/24",
        },
        "lifecycle": {"gc_interval": 0.5, "idle_timeout": 600.0},
    }
    config_path = tmp_path / "tier2.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log = (tmp_path / "tier2.log").open("w")
    st2 = netns_hosts.popen(
        cloudlet, [str(SCRIPT), "serve", "--config", str(config_path)], stdout=log, stderr=log
    )
    device_tunnel = None
    try:
        assert eventually(lambda: call("GET", f"{api}/readyz")[0] == 200, seconds=30), (
            tmp_path / "tier2.log"
        ).read_text()
        keys = [wireguard_keypair() for _ in range(2)]
        deployments = []
        for _, public_key in keys:
            status, reply = call(
                "POST",
                f"{api}/api/v2/deployments",
                {"app": str(LOCAL_APP), "client_public_key": public_key},
            )
            assert status == 201, reply
            deployments.append(Deployment.model_validate(reply))
        peers_before = wg("allowed-ips")
        public_key_before = wg("public-key")
        assert all(public_key in peers_before for _, public_key in keys)

        private_key, _ = keys[0]
        device_tunnel = netns_hosts.wireguard_up(
            netns_hosts.device,
            device_config(private_key, deployments[0]),
            name=f"{netns_hosts.prefix}rd",
        )
        service = deployments[0].services[0]
        backend = f"http://{service.host}:{service.port}/"
        assert eventually(lambda: call("GET", backend)[0] == 200, seconds=10)

        gone = netns_hosts.run(cloudlet, ["ip", "link", "delete", "dev", interface])
        assert gone.returncode == 0, gone.stderr
        assert call("GET", backend)[0] == 0  # the tunnel is down with it

        took = eventually(lambda: wg("allowed-ips") == peers_before, seconds=15)
        assert took is not None, (tmp_path / "tier2.log").read_text()
        assert wg("public-key") == public_key_before
        assert wg("listen-port").strip() == str(WG_PORT)
        # The device's own tunnel (PersistentKeepalive) finds the gateway again.
        assert eventually(lambda: call("GET", backend)[0] == 200, seconds=15)
        status, info = call("GET", f"{api}/api/v2/cloudlet")
        assert info["deployments"] == {"Deployed": 2}
        assert "recreated" in (tmp_path / "tier2.log").read_text()
    finally:
        if device_tunnel is not None:
            netns_hosts.wireguard_down(device_tunnel)
        stop_popen(st2, "sinfonia-tier2")
        log.close()
    links = netns_hosts.run(cloudlet, ["ip", "-o", "link", "show"]).stdout
    assert interface not in links
