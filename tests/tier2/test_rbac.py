"""ST-2's least-privilege RBAC: the manifests list exactly what it uses, and it runs under them."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from common.deployment import Deployment
from common.keys import urlsafe_key
from tests.harness.kubernetes_cluster import KubernetesCluster, write_kubeconfig
from tests.harness.netns import wireguard_keypair
from tests.tier2.conftest import SettingsFactory, eventually, write_recipes
from tests.tier2.kube_admin import KubeAdmin
from tier2.app import create_app
from tier2.drivers.kubernetes.permissions import CLUSTER_DNS_RULES, cluster_rules

pytestmark = pytest.mark.kubernetes

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "tier2"
RBAC = DEPLOY_DIR / "rbac.yaml"
DEPLOYMENT = DEPLOY_DIR / "deployment.yaml"
NAMESPACE = "sinfonia-system"
ACCOUNT = "sinfonia-tier2"
LAN = ("127.0.0.1", 40000)
APP = uuid.UUID("00000000-0000-4000-8000-0000000000b1")

_PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "Deployment": "deployments",
}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _collection(document: dict[str, Any]) -> str:
    version = document["apiVersion"]
    prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
    namespace = document["metadata"].get("namespace")
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{prefix}{scope}/{_PLURALS[document['kind']]}"


def _rules(document: dict[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    found: dict[tuple[str, str], frozenset[str]] = {}
    for rule in document["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                key = (group, resource)
                assert key not in found, f"{key} is granted twice"
                found[key] = frozenset(rule["verbs"])
    return found


def test_the_roles_grant_exactly_what_st2_uses() -> None:
    by_kind = {doc["kind"]: doc for doc in _documents(RBAC)}
    assert _rules(by_kind["ClusterRole"]) == cluster_rules()
    role = by_kind["Role"]
    assert role["metadata"]["namespace"] == "kube-system"
    assert _rules(role) == dict(CLUSTER_DNS_RULES)
    assert role["rules"][0]["resourceNames"] == ["kube-dns"]
    for binding in ("ClusterRoleBinding", "RoleBinding"):
        [subject] = by_kind[binding]["subjects"]
        assert (subject["name"], subject["namespace"]) == (ACCOUNT, NAMESPACE)


@pytest.fixture(scope="module")
def service_account_token(kubernetes_cluster: KubernetesCluster) -> str:
    """Apply rbac.yaml to the real API server and return the ServiceAccount's token."""
    admin = KubeAdmin(kubernetes_cluster)
    for document in _documents(RBAC):
        status, body = admin.request("POST", _collection(document), document)
        assert status in (201, 409), body
    account = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{ACCOUNT}"
    assert eventually(lambda: bool(admin.get(account).get("secrets")), seconds=30)
    secret_name = admin.get(account)["secrets"][0]["name"]
    secret = admin.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{secret_name}")
    return base64.b64decode(secret["data"]["token"]).decode()


def test_st2_works_under_its_service_account_and_no_further(
    kubernetes_cluster: KubernetesCluster,
    service_account_token: str,
    make_settings: SettingsFactory,
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(
        kubeconfig, kubernetes_cluster.server, kubernetes_cluster.ca_path, service_account_token
    )
    manifests = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "sinfonia/web:1"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}]},
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}},
    ]
    recipes = write_recipes(
        tmp_path / "recipes",
        {"uuid": str(APP), "name": "web", "kubernetes": {"manifests": manifests}},
    )
    settings = make_settings(
        driver="kubernetes",
        recipes_dir=recipes,
        trusted_tier1_networks=["127.0.0.0/8"],
        kubernetes={"kubeconfig": kubeconfig, "ready_timeout": 30.0},
    )
    key = wireguard_keypair()[1]
    path = f"/api/v2/deployments/{APP}/{urlsafe_key(key)}"
    body = {"app": str(APP), "client_public_key": key}
    with TestClient(create_app(settings), client=LAN) as client:
        assert client.get("/readyz").status_code == 200
        created = client.post("/api/v2/deployments", json=body)
        assert created.status_code == 201, created.text
        deployment = Deployment.model_validate(created.json())
        assert client.post("/api/v2/deployments", json=body).status_code == 200
    with TestClient(create_app(settings), client=LAN) as client:  # rediscovery, same account
        assert client.get(path).json()["name"] == deployment.name
        assert client.delete(path).status_code == 204

    assert KubeAdmin(kubernetes_cluster).deleting(deployment.name)
    limited = KubeAdmin(kubernetes_cluster, token=service_account_token)
    assert limited.request("GET", "/api/v1/secrets")[0] == 403
    assert limited.request("GET", f"/api/v1/namespaces/{deployment.name}")[0] == 403
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "x"},
        "spec": {},
    }
    assert (
        limited.request("POST", "/apis/apps/v1/namespaces/default/daemonsets", daemonset)[0] == 403
    )


def test_the_deployment_manifest_passes_server_side_validation(
    kubernetes_cluster: KubernetesCluster, service_account_token: str
) -> None:
    admin = KubeAdmin(kubernetes_cluster)
    documents = _documents(DEPLOYMENT)
    assert {doc["kind"] for doc in documents} == {"ConfigMap", "Deployment"}
    for document in documents:
        status, body = admin.request("POST", _collection(document) + "?dryRun=All", document)
        assert status == 201, body
    [deployment] = [doc for doc in documents if doc["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == ACCOUNT
    config = yaml.safe_load(documents[0]["data"]["tier2.yaml"])
    assert config["driver"] == "kubernetes"
    assert service_account_token
