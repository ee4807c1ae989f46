"""ST-2 on the real kube-apiserver: the API server cut off mid-deploy, and ST-2 itself killed.

tests/tier2/test_kubernetes.py shows the cut-off deploy answering 503 and its
namespace swept once the server is back; this adds that the retry then
succeeds. The restart test kills ST-2 (no shutdown at all) under a real ST-1.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from common.deployment import Deployment, DeploymentStatus
from common.keys import urlsafe_key
from tests.harness.kubernetes_cluster import KubernetesCluster
from tests.harness.netns import wireguard_keypair
from tests.harness.processes import free_ports
from tests.reliability.faults.services import Services, get, tier2_config
from tests.reliability.support import assert_problem, eventually
from tests.tier2.conftest import write_recipes
from tests.tier2.kube_admin import KubeAdmin
from tests.tier2.tcp_proxy import tcp_proxy
from tier2.app import create_app
from tier2.drivers.kubernetes import objects
from tier2.identity import load_identity
from tier2.settings import Tier2Settings

pytestmark = pytest.mark.kubernetes

WEB_APP = uuid.UUID("00000000-0000-4000-8000-0000000007a1")
CLUSTER_DNS = "10.96.0.10"


def web_recipe() -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "uuid": str(WEB_APP),
        "name": "web",
        "lease_seconds": 600,
        "kubernetes": {
            "manifests": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "web"},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "web", "image": "sinfonia/web:1"}]},
                        },
                    },
                },
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "web"},
                    "spec": {"selector": labels, "ports": [{"port": 8080, "protocol": "TCP"}]},
                },
            ]
        },
    }


def live(admin: KubeAdmin, cloudlet: uuid.UUID) -> list[str]:
    return admin.live_namespaces(f"{objects.LABEL_CLOUDLET}={cloudlet}")


def test_api_server_cut_mid_deploy_is_a_503_leaves_nothing_and_the_retry_succeeds(
    kubernetes_cluster: KubernetesCluster, tmp_path: Path
) -> None:
    admin = KubeAdmin(kubernetes_cluster)
    server = urlsplit(kubernetes_cluster.server)
    with tcp_proxy((server.hostname or "127.0.0.1", server.port or 443)) as proxy:
        config = yaml.safe_load(kubernetes_cluster.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
        kubeconfig = tmp_path / "via-proxy"
        kubeconfig.write_text(yaml.safe_dump(config))
        settings = Tier2Settings(
            api_url="http://127.0.0.1:5001",  # type: ignore[arg-type]
            state_dir=tmp_path / "state",
            recipes_dir=write_recipes(tmp_path / "recipes", web_recipe()),
            driver="kubernetes",  # type: ignore[arg-type]
            trusted_tier1_networks=["127.0.0.0/8"],  # type: ignore[list-item]
            kubernetes={  # type: ignore[arg-type]
                "kubeconfig": kubeconfig,
                "connect_timeout": 0.5,
                "request_timeout": 2.0,
                "attempts": 2,
                "ready_timeout": 30.0,
                "cluster_dns": [CLUSTER_DNS],
            },
            tunnel={"client_pool": "10.251.0.0/24"},  # type: ignore[arg-type]
            lifecycle={"gc_interval": 0.3},  # type: ignore[arg-type]
            metrics={"interval": 30.0},  # type: ignore[arg-type]
        )
        cloudlet = load_identity(settings.state_dir).uuid
        cut = threading.Event()

        def cut_when_the_namespace_appears() -> None:
            if eventually(lambda: bool(live(admin, cloudlet)), seconds=20, interval=0.02):
                proxy.cut()
                cut.set()

        _, key = wireguard_keypair()
        body = {"app": str(WEB_APP), "client_public_key": key}
        with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
            watcher = threading.Thread(target=cut_when_the_namespace_appears)
            watcher.start()
            response = client.post("/api/v2/deployments", json=body)
            watcher.join()
            assert cut.is_set()
            assert_problem(response, 503, "unavailable")
            assert client.get("/api/v2/cloudlet").json()["deployments"] == {}
            proxy.restore()
            assert eventually(lambda: live(admin, cloudlet) == [], seconds=20)
            retried = client.post("/api/v2/deployments", json=body)
            assert retried.status_code == 201, retried.text
            deployment = Deployment.model_validate(retried.json())
            assert deployment.status is DeploymentStatus.DEPLOYED
            assert live(admin, cloudlet) == [deployment.name]
            path = f"/api/v2/deployments/{WEB_APP}/{urlsafe_key(key)}"
            assert client.delete(path).status_code == 204
            assert admin.deleting(deployment.name)


def test_a_killed_and_restarted_tier2_takes_its_row_and_deployments_back(
    services: Services, tmp_path: Path, kubernetes_cluster: KubernetesCluster
) -> None:
    admin = KubeAdmin(kubernetes_cluster)
    st1_port, st2_port = free_ports(2)
    st1 = f"http://127.0.0.1:{st1_port}"
    st2 = f"http://127.0.0.1:{st2_port}"
    recipes = write_recipes(tmp_path / "recipes", web_recipe())
    services.tier1(st1_port, {"SINFONIA_TIER1_RECIPES__DIRECTORY": str(recipes)})
    config = tier2_config(
        tmp_path,
        "edge",
        st2_port,
        st1,
        tier1=[{"url": st1, "keepalive_interval": 5.0}],  # TTL 15 s: longer than a restart
        driver="kubernetes",
        trusted_tier1_networks=["127.0.0.0/8"],
        kubernetes={
            "kubeconfig": str(kubernetes_cluster.kubeconfig),
            "ready_timeout": 30.0,
            "cluster_dns": [CLUSTER_DNS],
        },
        tunnel={"client_pool": "10.251.0.0/24"},
    )
    st2_process = services.tier2("edge", config)
    cloudlet = load_identity(tmp_path / "edge-state").uuid
    row = f"{st1}/api/v2/cloudlets/{cloudlet}"
    assert eventually(lambda: get(row).status_code == 200, seconds=20)

    _, key = wireguard_keypair()
    body = {"app": str(WEB_APP), "client_public_key": key}
    first = httpx.post(f"{st1}/api/v2/deploy", json=body, timeout=60, trust_env=False)
    assert first.status_code == 200, first.text
    [before] = first.json()["deployments"]
    mine = f"{st2}/api/v2/deployments/{WEB_APP}/{urlsafe_key(key)}"

    services.kill(st2_process)
    killed = time.monotonic()
    services.tier2("edge", config)
    registrations = f"{st1}/metrics"
    assert eventually(
        lambda: (
            'sinfonia_tier1_registrations_total{outcome="renewed"} 1.0' in get(registrations).text
        ),
        seconds=20,
    ), "the restarted ST-2 did not take its row back"
    assert (
        get(row).json()["static"]["public_key"] == load_identity(tmp_path / "edge-state").public_key
    )
    print(f"restarted ST-2 had its row back {time.monotonic() - killed:.2f}s after the kill")

    found = get(mine)
    assert found.status_code == 200, found.text
    again = found.json()
    assert again["name"] == before["name"]
    assert again["tunnel"]["address"] == before["tunnel"]["address"]
    assert again["expires"] == before["expires"]  # the lease goes on: neither reset nor lost
    assert again["status"] == "Deployed"
    renewed = httpx.post(f"{st1}/api/v2/deploy", json=body, timeout=60, trust_env=False)
    assert renewed.status_code == 200, renewed.text
    [after] = renewed.json()["deployments"]
    assert after["name"] == before["name"]
    assert after["expires"] > before["expires"]
    assert live(admin, cloudlet) == [before["name"]]

    released = httpx.delete(
        f"{st1}/api/v2/deploy/{WEB_APP}/{urlsafe_key(key)}", timeout=60, trust_env=False
    )
    assert released.status_code == 204
    assert admin.deleting(before["name"])
