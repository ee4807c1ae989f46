"""Prometheus goes away under a running ST-2: the load becomes unknown (not zero, not stale),
ST-1 keeps choosing the cloudlet, and no deployment expires because of it.

Real Prometheus and node-exporter (the harness's), reached through a TCP
forwarder the test cuts: to ST-2 that is exactly a stopped Prometheus.
tests/tier2/test_prometheus.py covers a Prometheus that was never there.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.keys import urlsafe_key
from tests.harness.netns import wireguard_keypair
from tests.harness.processes import free_ports
from tests.harness.prometheus_stack import PrometheusServer
from tests.reliability.faults.services import Services, get, tier2_config
from tests.reliability.support import eventually
from tests.tier2.conftest import LOCAL_APP, local_recipe, write_recipes
from tests.tier2.tcp_proxy import tcp_proxy
from tier2.identity import load_identity

pytestmark = pytest.mark.prometheus

UNKNOWN = {"cpu_utilization": None, "memory_utilization": None}


def _deploy(st1: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{st1}/api/v2/deploy",
        json={"app": str(LOCAL_APP), "client_public_key": key},
        timeout=30,
        trust_env=False,
    )


def test_prometheus_gone_means_unknown_load_and_nothing_expires(
    services: Services, tmp_path: Path, prometheus: PrometheusServer
) -> None:
    port = int(prometheus.url.rsplit(":", 1)[1])
    with tcp_proxy(("127.0.0.1", port)) as proxy:
        recipes = write_recipes(tmp_path / "recipes", local_recipe(lease_seconds=600))
        st1_port, st2_port = free_ports(2)
        st1 = f"http://127.0.0.1:{st1_port}"
        st2 = f"http://127.0.0.1:{st2_port}"
        services.tier1(st1_port, {"SINFONIA_TIER1_RECIPES__DIRECTORY": str(recipes)})
        config = tier2_config(
            tmp_path,
            "edge",
            st2_port,
            st1,
            trusted_tier1_networks=["127.0.0.0/8"],
            recipes_dir=str(recipes),
            metrics={
                "prometheus_url": f"http://127.0.0.1:{proxy.port}",
                "interval": 0.3,
                "query_timeout": 1.0,
            },
            lifecycle={"gc_interval": 0.2, "idle_timeout": 1.0, "expiring_grace": 0.5},
        )
        services.tier2("edge", config)
        cloudlet = load_identity(tmp_path / "edge-state").uuid
        row = f"{st1}/api/v2/cloudlets/{cloudlet}"

        def row_metrics() -> dict[str, Any]:
            response = get(row)
            return response.json()["metrics"] if response.status_code == 200 else {}

        assert eventually(lambda: row_metrics().get("memory_utilization") is not None, seconds=20)
        _, key = wireguard_keypair()
        first = _deploy(st1, key)
        assert first.status_code == 200, first.text
        [deployment] = first.json()["deployments"]
        mine = f"{st2}/api/v2/deployments/{LOCAL_APP}/{urlsafe_key(key)}"

        proxy.cut()
        cut = time.monotonic()
        assert eventually(
            lambda: all(row_metrics().get(name, 0) is None for name in UNKNOWN), seconds=10
        ), row_metrics()
        load = get(f"{st2}/api/v2/cloudlet").json()["load"]["cluster"]
        assert set(load.values()) == {None}
        assert "sinfonia_tier2_metrics_source_up 0.0" in get(f"{st2}/metrics").text
        # Many collector rounds later, the deployment is exactly as it was.
        time.sleep(max(0.0, 3.0 - (time.monotonic() - cut)))
        kept = get(mine)
        assert kept.status_code == 200, kept.text
        assert kept.json()["status"] == "Deployed"
        assert kept.json()["expires"] == deployment["expires"]
        # ST-1 still chooses the cloudlet: unknown load is no reason to drop it.
        _, other = wireguard_keypair()
        assert _deploy(st1, other).status_code == 200

        proxy.restore()
        assert eventually(lambda: row_metrics().get("memory_utilization") is not None, seconds=20)
        assert "sinfonia_tier2_metrics_source_up 1.0" in get(f"{st2}/metrics").text
