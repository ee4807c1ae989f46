"""A recipe's manifests: parameters filled in, kinds checked, readiness judged (pure).

Only the kinds in `KINDS` may appear in a recipe: they are exactly what the
ST-2 ClusterRole lets it create, so a recipe cannot use ST-2 to make objects
the operator never granted. Pod templates may not reach into the host.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from common.errors import InvalidRequestError
from common.recipe import ParameterValue
from common.types import IPNetwork
from tier2.records import ServiceEndpoint

JSON = dict[str, Any]

Workload = Literal["deployment", "statefulset", "pod", "none"]


@dataclass(frozen=True, slots=True)
class ResourceType:
    """Where objects of one kind live in the API, and how their readiness is judged."""

    api_prefix: str
    plural: str
    workload: Workload

    def collection(self, namespace: str) -> str:
        return f"{self.api_prefix}/namespaces/{namespace}/{self.plural}"


KINDS: Mapping[tuple[str, str], ResourceType] = {
    ("v1", "ConfigMap"): ResourceType("/api/v1", "configmaps", "none"),
    ("v1", "Secret"): ResourceType("/api/v1", "secrets", "none"),
    ("v1", "Service"): ResourceType("/api/v1", "services", "none"),
    ("v1", "ServiceAccount"): ResourceType("/api/v1", "serviceaccounts", "none"),
    ("v1", "PersistentVolumeClaim"): ResourceType("/api/v1", "persistentvolumeclaims", "none"),
    ("v1", "Pod"): ResourceType("/api/v1", "pods", "pod"),
    ("apps/v1", "Deployment"): ResourceType("/apis/apps/v1", "deployments", "deployment"),
    ("apps/v1", "StatefulSet"): ResourceType("/apis/apps/v1", "statefulsets", "statefulset"),
    ("batch/v1", "Job"): ResourceType("/apis/batch/v1", "jobs", "none"),
}

_PARAMETER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_FAILING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


@dataclass(frozen=True, slots=True)
class PlannedObject:
    """One recipe object, ready to create in the deployment's namespace."""

    kind: str
    name: str
    resource: ResourceType
    body: JSON

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def render(manifests: Iterable[JSON], parameters: Mapping[str, ParameterValue]) -> list[JSON]:
    """Fill `${name}` placeholders; a whole-string placeholder keeps the parameter's type."""
    missing: set[str] = set()

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            whole = _PARAMETER.fullmatch(value)
            if whole and whole.group(1) in parameters:
                return parameters[whole.group(1)]

            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in parameters:
                    missing.add(name)
                    return match.group(0)
                return str(parameters[name])

            return _PARAMETER.sub(one, value)
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    rendered = [fill(manifest) for manifest in manifests]
    if missing:
        names = ", ".join(sorted(missing))
        raise InvalidRequestError(f"the recipe's manifests use undefined parameters: {names}")
    return rendered


def plan(objects: Iterable[JSON], namespace: str, labels: Mapping[str, str]) -> list[PlannedObject]:
    """Check each object and place it in `namespace`; the first bad one raises a 400."""
    planned: list[PlannedObject] = []
    seen: set[tuple[str, str]] = set()
    for index, document in enumerate(objects):
        where = f"manifests[{index}]"
        if not isinstance(document, dict):
            raise InvalidRequestError(f"{where} is not an object")
        api_version, kind = document.get("apiVersion"), document.get("kind")
        resource = KINDS.get((str(api_version), str(kind)))
        if resource is None:
            allowed = ", ".join(f"{k} ({v})" for v, k in sorted(KINDS))
            raise InvalidRequestError(
                f"{where}: {api_version}/{kind} is not a kind this cloudlet deploys; "
                f"allowed: {allowed}"
            )
        metadata = document.get("metadata")
        if not isinstance(metadata, dict):
            raise InvalidRequestError(f"{where}: {kind} has no metadata")
        name = metadata.get("name")
        if not isinstance(name, str) or not _OBJECT_NAME.fullmatch(name):
            raise InvalidRequestError(f"{where}: metadata.name must be a DNS subdomain name")
        if metadata.get("namespace") not in (None, namespace):
            raise InvalidRequestError(f"{where}: {kind}/{name} names another namespace")
        if (str(kind), name) in seen:
            raise InvalidRequestError(f"{where}: {kind}/{name} appears twice")
        if kind == "ServiceAccount" and name == "default":
            raise InvalidRequestError(f"{where}: the default ServiceAccount is managed by ST-2")
        seen.add((str(kind), name))
        _check_pod_spec(where, str(kind), document)
        body = {
            **document,
            "metadata": {
                **metadata,
                "namespace": namespace,
                "labels": {**(metadata.get("labels") or {}), **labels},
            },
        }
        planned.append(PlannedObject(str(kind), name, resource, body))
    return planned


def _pod_spec(kind: str, document: JSON) -> Any:
    spec = document.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in ("Job", "Deployment", "StatefulSet"):
        return (spec.get("template") or {}).get("spec") or {}
    return None


def _check_pod_spec(where: str, kind: str, document: JSON) -> None:
    spec = _pod_spec(kind, document)
    if not isinstance(spec, dict):
        return
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            raise InvalidRequestError(f"{where}: {field} is not allowed in a recipe")
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict) and "hostPath" in volume:
            raise InvalidRequestError(f"{where}: hostPath volumes are not allowed in a recipe")
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    for container in containers:
        context = container.get("securityContext") if isinstance(container, dict) else None
        if isinstance(context, dict) and (
            context.get("privileged") or context.get("allowPrivilegeEscalation")
        ):
            raise InvalidRequestError(f"{where}: privileged containers are not allowed")


@dataclass(frozen=True, slots=True)
class Readiness:
    """How one workload stands: ready, still starting, or failed for good (with why)."""

    ready: bool
    failure: str | None = None


def judge(workload: Workload, document: JSON) -> Readiness:
    """Readiness of a Deployment, StatefulSet or Pod from its current object."""
    status = document.get("status") or {}
    spec = document.get("spec") or {}
    metadata = document.get("metadata") or {}
    if workload == "pod":
        if status.get("phase") == "Failed":
            return Readiness(False, f"pod {metadata.get('name')} failed: {status.get('reason')}")
        return Readiness(_condition(status, "Ready") == "True")
    if workload == "none":
        return Readiness(True)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return Readiness(False, str(condition.get("message") or condition.get("reason")))
        if condition.get("reason") == "ProgressDeadlineExceeded":
            return Readiness(False, str(condition.get("message") or "progress deadline exceeded"))
    wanted = spec.get("replicas", 1)
    observed = status.get("observedGeneration", 0) >= metadata.get("generation", 0)
    ready = status.get("readyReplicas", 0) >= wanted
    updated = workload != "deployment" or status.get("updatedReplicas", 0) >= wanted
    return Readiness(observed and ready and updated)


def pod_failure(pod: JSON) -> str | None:
    """Why a pod will not start by itself (bad image, crash loop), if that is the case."""
    status = pod.get("status") or {}
    for container in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _FAILING_REASONS:
            name = (pod.get("metadata") or {}).get("name")
            return f"pod {name} container {container.get('name')}: {waiting.get('reason')}"
    return None


def _condition(status: JSON, kind: str) -> str | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status"))
    return None


def endpoints(
    services: Iterable[JSON],
) -> tuple[tuple[ServiceEndpoint, ...], tuple[IPNetwork, ...]]:
    """Each port of each ClusterIP Service, and the addresses a tunnel must route to reach them."""
    found: list[ServiceEndpoint] = []
    routes: list[IPNetwork] = []
    for service in services:
        name = str((service.get("metadata") or {}).get("name"))
        spec = service.get("spec") or {}
        cluster_ip = spec.get("clusterIP")
        if not cluster_ip or cluster_ip == "None":
            continue
        ports = spec.get("ports") or []
        for port in ports:
            label = name if len(ports) == 1 else f"{name}-{port.get('name') or port.get('port')}"
            udp = str(port.get("protocol", "TCP")).upper() == "UDP"
            found.append(
                ServiceEndpoint(label, cluster_ip, int(port["port"]), "udp" if udp else "tcp")
            )
        network = ipaddress.ip_network(cluster_ip)
        if network not in routes:
            routes.append(network)
    return tuple(found), tuple(routes)
