"""ST-2 on the real kube-apiserver (with the fake kubelet, the harness's one fake): deploy,
renew, release, expiry, restart, and every bad input leaving no namespace behind."""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from collections.abc import Iterator
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
from tests.tier2.conftest import SettingsFactory, eventually, write_recipes
from tests.tier2.kube_admin import KubeAdmin
from tests.tier2.tcp_proxy import tcp_proxy
from tier2.app import create_app
from tier2.drivers.kubernetes import objects
from tier2.identity import load_identity

pytestmark = pytest.mark.kubernetes

LAN = ("127.0.0.1", 40000)
WEB_APP = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
BAD_APP = uuid.UUID("00000000-0000-4000-8000-0000000000a2")
GREEDY_APP = uuid.UUID("00000000-0000-4000-8000-0000000000a3")
HELM_APP = uuid.UUID("00000000-0000-4000-8000-0000000000a4")
SHORT_APP = uuid.UUID("00000000-0000-4000-8000-0000000000a5")
STUCK_APP = uuid.UUID("00000000-0000-4000-8000-0000000000a6")
CLUSTER_DNS = "10.96.0.10"


def _web_manifests(cpu: str = "100m", **pod: Any) -> list[dict[str, Any]]:
    labels = {"app": "web"}
    container = {"name": "web", "image": "sinfonia/web:1", "resources": {"requests": {"cpu": cpu}}}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": "${replicas}",
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [container], **pod},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": labels, "ports": [{"port": 8080, "protocol": "TCP"}]},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "b"}},
    ]


def _recipe(app: uuid.UUID, name: str, **fields: Any) -> dict[str, Any]:
    return {"uuid": str(app), "name": name, **fields}


RECIPES = [
    _recipe(
        WEB_APP, "web", kubernetes={"manifests": _web_manifests(), "parameters": {"replicas": 2}}
    ),
    _recipe(
        BAD_APP,
        "broken",
        kubernetes={
            "manifests": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "x"},
                    "spec": {},
                }
            ]
        },
    ),
    _recipe(
        GREEDY_APP,
        "greedy",
        requirements={"cpu_cores": 0.5},
        kubernetes={"manifests": _web_manifests(cpu="2"), "parameters": {"replicas": 1}},
    ),
    _recipe(HELM_APP, "charted", helm={"chart": "web", "version": "1.0.0"}),
    _recipe(
        STUCK_APP,
        "stuck",
        kubernetes={
            # No node has this label: the pod stays Pending, the deployment Initializing.
            "manifests": _web_manifests(nodeSelector={"sinfonia.dev/no-such-node": "true"}),
            "parameters": {"replicas": 1},
        },
    ),
    _recipe(
        SHORT_APP,
        "short",
        lease_seconds=0.5,
        kubernetes={"manifests": _web_manifests(), "parameters": {"replicas": 1}},
    ),
]


@pytest.fixture(scope="module")
def cluster_dns(kubernetes_cluster: KubernetesCluster) -> Iterator[str]:
    """A `kube-system/kube-dns` Service, as a real cluster has, for ST-2 to find."""
    admin = KubeAdmin(kubernetes_cluster)
    service = {
        "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "clusterIP": CLUSTER_DNS,
            "selector": {"k8s-app": "kube-dns"},
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
        },
    }
    status, body = admin.request("POST", "/api/v1/namespaces/kube-system/services", service)
    assert status in (201, 409), body
    yield CLUSTER_DNS
    admin.request("DELETE", "/api/v1/namespaces/kube-system/services/kube-dns")


@pytest.fixture
def kube_settings(
    make_settings: SettingsFactory,
    kubernetes_cluster: KubernetesCluster,
    cluster_dns: str,
    tmp_path: Path,
) -> SettingsFactory:
    recipes = write_recipes(tmp_path / "recipes", *RECIPES)

    def make(**overrides: Any) -> Any:
        kubernetes = {"kubeconfig": kubernetes_cluster.kubeconfig, "ready_timeout": 30.0}
        return make_settings(
            driver="kubernetes",
            recipes_dir=recipes,
            trusted_tier1_networks=["127.0.0.0/8"],
            tunnel={"client_pool": "10.251.0.0/24"},
            **{**overrides, "kubernetes": {**kubernetes, **overrides.get("kubernetes", {})}},
        )

    return make


@pytest.fixture
def admin(kubernetes_cluster: KubernetesCluster) -> KubeAdmin:
    return KubeAdmin(kubernetes_cluster)


def _key() -> str:
    return wireguard_keypair()[1]


def _deploy(client: TestClient, app: uuid.UUID, key: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/api/v2/deployments", json={"app": str(app), "client_public_key": key}
    )
    return response


def _path(app: uuid.UUID, key: str) -> str:
    return f"/api/v2/deployments/{app}/{urlsafe_key(key)}"


def _live_namespaces(admin: KubeAdmin, cloudlet: uuid.UUID) -> list[str]:
    """Namespaces of `cloudlet` that are not being deleted."""
    return admin.live_namespaces(f"{objects.LABEL_CLOUDLET}={cloudlet}")


def test_deploy_makes_an_isolated_namespace_renews_and_releases_it(
    kube_settings: SettingsFactory, admin: KubeAdmin, kubernetes_cluster: KubernetesCluster
) -> None:
    settings = kube_settings()
    key = _key()
    with TestClient(create_app(settings), client=LAN) as client:
        created = _deploy(client, WEB_APP, key)
        assert created.status_code == 201, created.text
        deployment = Deployment.model_validate(created.json())
        assert deployment.status is DeploymentStatus.DEPLOYED
        name = deployment.name

        base = f"/api/v1/namespaces/{name}"
        namespace = admin.get(base)["metadata"]
        labels, notes = namespace["labels"], namespace["annotations"]
        assert labels["app.kubernetes.io/managed-by"] == "sinfonia-tier2"
        assert labels[objects.LABEL_APP] == str(WEB_APP)
        assert labels[objects.LABEL_CLOUDLET] == str(load_identity(settings.state_dir).uuid)
        assert notes[objects.ANNOTATION_KEY] == key
        assert notes[objects.ANNOTATION_STATUS] == "Deployed"

        quota = admin.get(f"{base}/resourcequotas/{objects.QUOTA_NAME}")["spec"]["hard"]
        assert quota["requests.cpu"] == "4"
        assert quota["services.nodeports"] == "0"
        assert admin.get(f"{base}/limitranges/{objects.LIMITS_NAME}")["spec"]["limits"]
        policy = admin.get(
            f"/apis/networking.k8s.io/v1/namespaces/{name}/networkpolicies/{objects.POLICY_NAME}"
        )
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        web = admin.get(f"/apis/apps/v1/namespaces/{name}/deployments/web")
        assert web["status"]["readyReplicas"] == 2  # the recipe's parameter, as a number
        account = admin.get(f"{base}/serviceaccounts/default")
        assert account["automountServiceAccountToken"] is False
        pods = admin.get(f"{base}/pods")["items"]
        assert len(pods) == 2
        assert all(not pod["spec"].get("automountServiceAccountToken") for pod in pods)
        assert all(pod["status"]["phase"] == "Running" for pod in pods)

        cluster_ip = admin.get(f"{base}/services/web")["spec"]["clusterIP"]
        assert [(s.name, s.host, s.port) for s in deployment.services] == [
            ("web", cluster_ip, 8080)
        ]
        tunnel = deployment.tunnel
        allowed = [str(net) for net in tunnel.allowed_ips]
        assert f"{cluster_ip}/32" in allowed
        assert f"{CLUSTER_DNS}/32" in allowed
        assert tunnel.dns[:2] == [CLUSTER_DNS, f"{name}.svc.cluster.local"]
        assert [str(a) for a in tunnel.address] == ["10.251.0.2/32"]

        renewed = _deploy(client, WEB_APP, key)
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["name"] == name
        expires = admin.get(base)["metadata"]["annotations"][objects.ANNOTATION_EXPIRES]
        assert expires == renewed.json()["expires"].replace("Z", "+00:00")

        assert client.get(_path(WEB_APP, key)).json()["name"] == name
        assert client.delete(_path(WEB_APP, key)).status_code == 204
        assert admin.deleting(name)
        gone = client.get(_path(WEB_APP, key))
        assert gone.status_code == 404
        assert gone.json()["type"] == "urn:sinfonia:problem:deployment-not-found"


def test_a_restarted_st2_finds_its_deployments_again(
    kube_settings: SettingsFactory, admin: KubeAdmin
) -> None:
    settings = kube_settings()
    key = _key()
    with TestClient(create_app(settings), client=LAN) as client:
        first = Deployment.model_validate(_deploy(client, WEB_APP, key).json())
    with TestClient(create_app(settings), client=LAN) as client:
        found = client.get(_path(WEB_APP, key))
        assert found.status_code == 200, found.text
        again = Deployment.model_validate(found.json())
        assert (again.name, again.tunnel.address, again.services) == (
            first.name,
            first.tunnel.address,
            first.services,
        )
        renewed = _deploy(client, WEB_APP, key)
        assert renewed.status_code == 200
        assert renewed.json()["name"] == first.name
        # A new device gets the next address, not the one the rediscovered device holds.
        other = Deployment.model_validate(_deploy(client, WEB_APP, _key()).json())
        assert other.tunnel.address != first.tunnel.address
        assert client.delete(_path(WEB_APP, key)).status_code == 204
    assert admin.deleting(first.name)


def test_unused_deployments_expire_and_their_namespace_is_reclaimed(
    kube_settings: SettingsFactory, admin: KubeAdmin
) -> None:
    settings = kube_settings(lifecycle={"gc_interval": 0.2, "expiring_grace": 0.5})
    key = _key()
    with TestClient(create_app(settings), client=LAN) as client:
        deployment = Deployment.model_validate(_deploy(client, SHORT_APP, key).json())
        assert eventually(lambda: client.get(_path(SHORT_APP, key)).status_code == 404, seconds=10)
        assert admin.deleting(deployment.name)


@pytest.mark.parametrize(
    ("app", "status", "detail"),
    [
        (BAD_APP, 400, "invalid"),
        (GREEDY_APP, 400, "quota"),
        (HELM_APP, 400, "Helm"),
        (uuid.UUID(int=404), 404, "no recipe"),
    ],
)
def test_bad_recipes_get_a_problem_and_leave_no_namespace(
    kube_settings: SettingsFactory, admin: KubeAdmin, app: uuid.UUID, status: int, detail: str
) -> None:
    settings = kube_settings()
    with TestClient(create_app(settings), client=LAN) as client:
        response = _deploy(client, app, _key())
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert detail in response.json()["detail"]
        assert client.get("/api/v2/cloudlet").json()["deployments"] == {}
    assert _live_namespaces(admin, load_identity(settings.state_dir).uuid) == []


def test_a_second_request_while_initializing_joins_the_first(
    kube_settings: SettingsFactory,
) -> None:
    settings = kube_settings()
    key = _key()
    with TestClient(create_app(settings), client=LAN) as client:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(lambda _: _deploy(client, WEB_APP, key), range(2)))
        assert sorted(r.status_code for r in responses) == [200, 201]
        assert responses[0].json()["name"] == responses[1].json()["name"]
        assert client.delete(_path(WEB_APP, key)).status_code == 204


def test_api_server_down_mid_deploy_is_a_503_and_the_namespace_is_swept(
    kube_settings: SettingsFactory,
    kubernetes_cluster: KubernetesCluster,
    admin: KubeAdmin,
    tmp_path: Path,
) -> None:
    server = urlsplit(kubernetes_cluster.server)
    with tcp_proxy((server.hostname or "127.0.0.1", server.port or 443)) as proxy:
        config = yaml.safe_load(kubernetes_cluster.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
        kubeconfig = tmp_path / "via-proxy"
        kubeconfig.write_text(yaml.safe_dump(config))
        settings = kube_settings(
            kubernetes={
                "kubeconfig": kubeconfig,
                "connect_timeout": 0.5,
                "request_timeout": 2.0,
                "attempts": 2,
            },
            lifecycle={"gc_interval": 0.3},
        )
        cloudlet = load_identity(settings.state_dir).uuid
        cut = threading.Event()

        def cut_when_the_namespace_appears() -> None:
            if eventually(lambda: bool(_live_namespaces(admin, cloudlet)), seconds=20):
                proxy.cut()
                cut.set()

        with TestClient(create_app(settings), client=LAN) as client:
            watcher = threading.Thread(target=cut_when_the_namespace_appears)
            watcher.start()
            response = _deploy(client, WEB_APP, _key())
            watcher.join()
            assert cut.is_set()
            assert response.status_code == 503, response.text
            problem = response.json()
            assert problem["type"] == "urn:sinfonia:problem:unavailable"
            assert problem["retryable"] is True
            [leftover] = _live_namespaces(admin, cloudlet)  # nothing could delete it yet
            proxy.restore()
            assert eventually(lambda: _live_namespaces(admin, cloudlet) == [], seconds=15)
            assert admin.deleting(leftover)


def test_releasing_while_initializing_stops_the_deploy_and_cleans_up(
    kube_settings: SettingsFactory, admin: KubeAdmin
) -> None:
    settings = kube_settings()
    cloudlet = load_identity(settings.state_dir).uuid
    key = _key()
    with (
        TestClient(create_app(settings), client=LAN) as client,
        concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool,
    ):
        deploying = pool.submit(_deploy, client, STUCK_APP, key)
        assert eventually(lambda: bool(_live_namespaces(admin, cloudlet)), seconds=10)
        [name] = _live_namespaces(admin, cloudlet)
        assert client.get(_path(STUCK_APP, key)).json()["status"] == "Initializing"
        assert client.delete(_path(STUCK_APP, key)).status_code == 204
        response = deploying.result(timeout=30)
        assert response.status_code == 409, response.text
        assert "released while it was initializing" in response.json()["detail"]
        assert admin.deleting(name)
        assert client.get(_path(STUCK_APP, key)).status_code == 404


def test_pods_not_ready_in_time_are_a_504_and_cleaned_up(
    kube_settings: SettingsFactory, admin: KubeAdmin
) -> None:
    settings = kube_settings(kubernetes={"ready_timeout": 2.0})
    with TestClient(create_app(settings), client=LAN) as client:
        response = _deploy(client, STUCK_APP, _key())
        assert response.status_code == 504, response.text
        problem = response.json()
        assert problem["type"] == "urn:sinfonia:problem:upstream-timeout"
        assert "not ready within 2s" in problem["detail"]
    assert _live_namespaces(admin, load_identity(settings.state_dir).uuid) == []
