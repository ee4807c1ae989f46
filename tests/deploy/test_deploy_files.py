"""Every compose file and manifest in `deploy/` agrees with the code it runs.

No Docker engine runs here, so compose files are checked statically: each
command is parsed by the real CLI it names (flags, types, choices), each
`SINFONIA_*` variable names a real setting, ports match, images are pinned,
health checks exist and nothing secret is written down. Kubernetes manifests
are checked the same way, their embedded settings and recipes are loaded by
the real settings models and recipe loader, and the real API server validates
them (server-side dry run). Prometheus' config passes promtool.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from common.service.settings import ServiceSettings
from tests.deploy.clis import INTERPOLATION, parse_command
from tests.harness.kubernetes_cluster import KubernetesCluster
from tests.harness.requirements import skip_or_fail
from tests.tier2.kube_admin import KubeAdmin
from tier1.recipes import parse_recipe
from tier1.settings import Tier1Settings
from tier2.drivers.kubernetes.permissions import CLUSTER_DNS_RULES, cluster_rules
from tier2.settings import Tier2Settings
from tier3.settings import Tier3Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = [ROOT / "docker-compose.yml", *sorted((ROOT / "deploy" / "compose").glob("*.yml"))]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").rglob("*.yaml"))
RECIPES = ROOT / "deploy" / "recipes"
SETTINGS: dict[str, type[ServiceSettings]] = {
    "sinfonia-tier1": Tier1Settings,
    "sinfonia-tier2": Tier2Settings,
    "sinfonia-tier3": Tier3Settings,
}
OUR_IMAGE = re.compile(r"^sinfonia:[\w.-]+$")
PINNED_IMAGE = re.compile(r"^[\w./-]+:v?\d[\w.-]*$")
SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "PRIVATE", "CREDENTIAL")
HEALTH_PATHS = ("/healthz", "/readyz")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _setting_exists(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    nested = field.annotation
    return (
        isinstance(nested, type)
        and issubclass(nested, BaseModel)
        and _setting_exists(nested, path[1:])
    )


def _check_environment(script: str, environment: dict[str, Any]) -> None:
    prefix = f"SINFONIA_TIER{script[-1]}_"
    for name, value in environment.items():
        if name.startswith("SINFONIA_"):
            assert name.startswith(prefix), f"{name} is not a setting of {script}"
            path = name.removeprefix(prefix).lower().split("__")
            assert _setting_exists(SETTINGS[script], path), f"{name} names no setting of {script}"
        if any(word in name for word in SECRET_WORDS) and not name.endswith("_FILE"):
            assert INTERPOLATION.fullmatch(str(value)), f"{name} has a secret written down"


# --- compose ---------------------------------------------------------------------------------


def _compose_services() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for path in COMPOSE_FILES:
        document = yaml.safe_load(path.read_text())
        for name, service in document["services"].items():
            yield path, name, service


COMPOSE_SERVICES = list(_compose_services())


@pytest.mark.parametrize(
    ("path", "name", "service"),
    [pytest.param(*s, id=f"{s[0].name}:{s[1]}") for s in COMPOSE_SERVICES],
)
def test_compose_service(path: Path, name: str, service: dict[str, Any]) -> None:
    image = service.get("image")
    build = service.get("build")
    assert image or build, "a service needs an image or a build"
    if build is not None:
        assert (path.parent / build["context"] / build["dockerfile"]).is_file()
    ours = bool(build) or bool(image and OUR_IMAGE.match(image))
    if image and not ours:
        assert PINNED_IMAGE.match(image), f"{image} is not pinned to a version"

    health = service.get("healthcheck")
    assert health is not None, "every service has a health check"
    assert {"test", "interval", "timeout"} <= health.keys()

    for volume in service.get("volumes", []):
        source = str(volume).split(":", 1)[0]
        if source.startswith("."):
            assert (path.parent / source).exists(), f"{source} does not exist"

    if not ours:
        return
    script, options = parse_command(service["command"])
    settings = SETTINGS[script]
    port = (
        options["port"]
        if options.get("port") is not None
        else settings.model_fields["port"].default
    )
    probe = " ".join(health["test"])
    assert f"127.0.0.1:{port}/" in probe
    assert any(path in probe for path in HEALTH_PATHS)
    _check_environment(script, service.get("environment", {}))
    if script == "sinfonia-tier3":
        assert options["host"] in ("127.0.0.1", None)  # the device daemon binds loopback only
        assert service.get("network_mode") == "host"
    if script in ("sinfonia-tier2", "sinfonia-tier3"):
        assert service.get("cap_add") == ["NET_ADMIN"]
        assert service.get("cap_drop") == ["ALL"]
    if build is not None or image:
        dockerfile = ROOT / "deploy" / "docker" / "Dockerfile"
        if "--recipes" in service["command"]:
            recipes = service["command"][service["command"].index("--recipes") + 1]
            assert f"COPY deploy/recipes {recipes}" in dockerfile.read_text()


def test_compose_dependencies_name_services() -> None:
    for path in COMPOSE_FILES:
        services = yaml.safe_load(path.read_text())["services"]
        for name, service in services.items():
            for dependency in service.get("depends_on", []):
                assert dependency in services, f"{path.name}:{name} depends on {dependency}"


def test_the_dockerfile_copies_what_exists() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert "pip install" in dockerfile


# --- Kubernetes ----------------------------------------------------------------------------


def _manifest_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in MANIFESTS:
        for document in _documents(path):
            yield path, document


def _pod_specs(path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) of each Deployment in a manifest file."""
    for document in _documents(path):
        if document["kind"] == "Deployment":
            yield document, document["spec"]["template"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_manifest_objects_are_complete_and_labelled(path: Path) -> None:
    documents = _documents(path)
    assert documents
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= document.keys()
        metadata = document["metadata"]
        assert metadata.get("name"), document
        assert metadata.get("labels", {}).get("app.kubernetes.io/part-of") == "sinfonia"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_manifest_pods_run_our_commands_with_probes_and_limits(path: Path) -> None:
    configmaps = {d["metadata"]["name"]: d for d in _documents(path) if d["kind"] == "ConfigMap"}
    for workload, template in _pod_specs(path):
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items()
        spec = template["spec"]
        for container in spec["containers"]:
            assert "limits" in container.get("resources", {})
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            image = container["image"]
            if not OUR_IMAGE.match(image):
                assert PINNED_IMAGE.match(image), f"{image} is not pinned to a version"
                continue
            script, options = parse_command(container["command"])
            config = options["config"]
            assert config is not None, "our pods read their settings from a ConfigMap"
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            settings = _settings_from_configmap(script, Path(config), mounts, spec, configmaps)
            ports = {port["name"]: port["containerPort"] for port in container["ports"]}
            assert ports["api"] == settings.port
            for probe, path_ in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                assert container[probe]["httpGet"] == {"path": path_, "port": "api"}
            assert template["metadata"].get("annotations", {}).get("prometheus.io/port") == str(
                settings.port
            )


def _settings_from_configmap(
    script: str,
    config: Path,
    mounts: dict[str, dict[str, Any]],
    spec: dict[str, Any],
    configmaps: dict[str, dict[str, Any]],
) -> ServiceSettings:
    """The settings the pod starts with, loaded by the real settings model."""
    mount = mounts.get(str(config)) or mounts.get(str(config.parent))
    assert mount is not None, f"{config} is not mounted"
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    configmap = configmaps[volumes[mount["name"]]["configMap"]["name"]]
    text = configmap["data"][config.name]
    settings = SETTINGS[script].model_validate(yaml.safe_load(text))
    if isinstance(settings, Tier1Settings):
        assert settings.admission.token is None, "a token written into a ConfigMap"
    return settings


def test_st1_recipes_in_the_configmap_are_the_bundled_ones() -> None:
    [configmap] = [
        d
        for d in _documents(ROOT / "deploy/kubernetes/tier1/tier1.yaml")
        if d["kind"] == "ConfigMap"
    ]
    bundled = {path.name: path for path in RECIPES.glob("*.yaml")}
    shipped = {key: text for key, text in configmap["data"].items() if key != "tier1.yaml"}
    assert shipped.keys() == bundled.keys()
    for name, text in shipped.items():
        recipe = parse_recipe(yaml.safe_load(text), name)
        assert recipe == parse_recipe(yaml.safe_load(bundled[name].read_text()), name)


def test_st1_pods_get_no_kubernetes_credentials() -> None:
    documents = _documents(ROOT / "deploy/kubernetes/tier1/tier1.yaml")
    assert not [d for d in documents if d["kind"] in ("Role", "ClusterRole", "RoleBinding")]
    for _, template in _pod_specs(ROOT / "deploy/kubernetes/tier1/tier1.yaml"):
        assert template["spec"]["automountServiceAccountToken"] is False


def test_services_select_pods_and_name_their_ports() -> None:
    for path in MANIFESTS:
        pods = [template for _, template in _pod_specs(path)]
        for service in (d for d in _documents(path) if d["kind"] == "Service"):
            selector = service["spec"]["selector"]
            [template] = [t for t in pods if selector.items() <= t["metadata"]["labels"].items()]
            names = {
                port["name"]
                for container in template["spec"]["containers"]
                for port in container["ports"]
            }
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in names
                assert port["protocol"] == "TCP"  # a 1.20 API server wants it explicit


def test_every_role_is_st2s_and_grants_exactly_what_its_code_calls() -> None:
    roles = [
        document
        for _, document in _manifest_documents()
        if document["kind"] in ("Role", "ClusterRole")
    ]
    assert {(r["kind"], r["metadata"]["name"]) for r in roles} == {
        ("ClusterRole", "sinfonia-tier2"),
        ("Role", "sinfonia-tier2-cluster-dns"),
    }
    for role in roles:
        granted = {
            (group, resource): frozenset(rule["verbs"])
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        }
        expected = cluster_rules() if role["kind"] == "ClusterRole" else dict(CLUSTER_DNS_RULES)
        assert granted == expected


_PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "Deployment": "deployments",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Role": "roles",
    "RoleBinding": "rolebindings",
}


def _collection(document: dict[str, Any]) -> str:
    version = document["apiVersion"]
    prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
    namespace = document["metadata"].get("namespace")
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{prefix}{scope}/{_PLURALS[document['kind']]}"


@pytest.mark.kubernetes
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_api_server_accepts_every_manifest(
    kubernetes_cluster: KubernetesCluster, path: Path
) -> None:
    admin = KubeAdmin(kubernetes_cluster)
    documents = _documents(path)
    namespaces = {d["metadata"].get("namespace") for d in documents} - {None}
    for namespace in sorted(namespaces):  # dry runs of namespaced objects need it to exist
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        status, answer = admin.request("POST", "/api/v1/namespaces", body)
        assert status in (201, 409), answer
    for document in documents:
        url = _collection(document) + "?" + urllib.parse.urlencode({"dryRun": "All"})
        status, answer = admin.request("POST", url, document)
        assert status in (201, 409), (document["kind"], answer)


# --- Prometheus ------------------------------------------------------------------------------


def test_prometheus_scrapes_all_three_services_on_their_default_ports() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for script, settings in SETTINGS.items():
        job = jobs[script]
        assert job["metrics_path"] == "/metrics"
        [targets] = [group["targets"] for group in job["static_configs"]]
        assert targets == [f"127.0.0.1:{settings.model_fields['port'].default}"]
    assert "node" in jobs


def test_prometheus_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool (Debian package prometheus) is not installed")
    result = subprocess.run(
        [promtool, "check", "config", str(ROOT / "deploy/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
