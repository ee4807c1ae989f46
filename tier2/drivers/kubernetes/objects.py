"""The objects ST-2 owns in a tenant namespace, and the namespace's record of the deployment (pure).

A deployment's namespace is the source of truth: labels say whose it is (so a
restarted ST-2 finds it by selector) and annotations hold its lease, status,
tunnel address and endpoints. Label values cannot hold base64's '+/=', so
keys appear in labels as hashes and in full only in an annotation.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from common.deployment import DeploymentStatus
from common.recipe import Recipe
from common.types import AppId, CloudletId, IPNetwork
from tier2.records import (
    CreateRequest,
    DeploymentKey,
    DeploymentRecord,
    Placement,
    ServiceEndpoint,
    key_digest,
)

JSON = dict[str, Any]

MANAGED_BY = "sinfonia-tier2"
PREFIX = "sinfonia.dev/"
LABEL_CLOUDLET = PREFIX + "cloudlet"
LABEL_APP = PREFIX + "app"
LABEL_CLIENT = PREFIX + "client-key-hash"
LABEL_DEPLOYMENT = PREFIX + "deployment-key"
ANNOTATION_KEY = PREFIX + "client-public-key"
ANNOTATION_STATUS = PREFIX + "status"
ANNOTATION_CREATED = PREFIX + "created"
ANNOTATION_EXPIRES = PREFIX + "expires"
ANNOTATION_EXPIRING_SINCE = PREFIX + "expiring-since"
ANNOTATION_LEASE = PREFIX + "lease-seconds"
ANNOTATION_ADDRESS = PREFIX + "client-address"
ANNOTATION_APP_NAME = PREFIX + "app-name"
ANNOTATION_SERVICES = PREFIX + "services"
ANNOTATION_ROUTES = PREFIX + "routes"

POLICY_NAME = "sinfonia-isolation"
QUOTA_NAME = "sinfonia-quota"
LIMITS_NAME = "sinfonia-defaults"
MAX_NAME = 63

_NOT_LABEL_CHARS = re.compile(r"[^a-z0-9]+")


def selector(cloudlet: CloudletId) -> str:
    """The label selector of every namespace this cloudlet owns."""
    return f"app.kubernetes.io/managed-by={MANAGED_BY},{LABEL_CLOUDLET}={cloudlet}"


def key_selector(cloudlet: CloudletId, key: DeploymentKey) -> str:
    return f"{selector(cloudlet)},{LABEL_DEPLOYMENT}={key.digest}"


def slug(text: str, limit: int) -> str:
    """A DNS-label-safe rendering of `text`, at most `limit` characters, never empty."""
    cleaned = _NOT_LABEL_CHARS.sub("-", text.lower()).strip("-")[:limit].strip("-")
    return cleaned or "app"


def namespace_name(prefix: str, recipe: Recipe) -> str:
    """A fresh namespace name: prefix, the app's name, a random suffix (no reuse while one ends)."""
    suffix = secrets.token_hex(4)
    room = MAX_NAME - len(prefix) - len(suffix) - 1
    return f"{prefix}{slug(recipe.name, min(room, 30))}-{suffix}"


def build_namespace(name: str, cloudlet: CloudletId, request: CreateRequest) -> JSON:
    key = request.key
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/part-of": "sinfonia",
                "app.kubernetes.io/name": slug(request.recipe.name, MAX_NAME),
                "app.kubernetes.io/instance": name,
                LABEL_CLOUDLET: str(cloudlet),
                LABEL_APP: str(key.app),
                LABEL_CLIENT: key_digest(key.client_key),
                LABEL_DEPLOYMENT: key.digest,
            },
            "annotations": {
                ANNOTATION_KEY: key.client_key,
                ANNOTATION_APP_NAME: request.recipe.name,
                ANNOTATION_STATUS: DeploymentStatus.INITIALIZING.value,
                ANNOTATION_CREATED: request.created.isoformat(),
                ANNOTATION_EXPIRES: request.expires.isoformat(),
                ANNOTATION_LEASE: repr(request.lease_seconds),
                ANNOTATION_ADDRESS: str(request.client_address),
            },
        },
    }


def lease_annotations(record: DeploymentRecord) -> JSON:
    """A merge patch writing `record`'s status and lease onto its namespace."""
    since = record.expiring_since.isoformat() if record.expiring_since else None
    return {
        "metadata": {
            "annotations": {
                ANNOTATION_STATUS: record.status.value,
                ANNOTATION_EXPIRES: record.expires.isoformat(),
                ANNOTATION_EXPIRING_SINCE: since,
            }
        }
    }


def placement_annotations(record: DeploymentRecord) -> JSON:
    """A merge patch recording what was made, once the backend is ready."""
    services = [
        {"name": s.name, "host": s.host, "port": s.port, "protocol": s.protocol}
        for s in record.placement.services
    ]
    patch = lease_annotations(record)
    patch["metadata"]["annotations"] |= {
        ANNOTATION_SERVICES: json.dumps(services, separators=(",", ":")),
        ANNOTATION_ROUTES: json.dumps([str(r) for r in record.placement.routes]),
    }
    return patch


def search_domains(namespace: str, cluster_domain: str) -> tuple[str, ...]:
    return (f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain)


class RecordError(ValueError):
    """A namespace carries our labels but not a readable record."""


def record_from_namespace(namespace: JSON, cluster_domain: str) -> DeploymentRecord:
    """Rebuild a deployment record from its namespace; raises `RecordError` if unreadable."""
    metadata = namespace.get("metadata") or {}
    labels = metadata.get("labels") or {}
    notes = metadata.get("annotations") or {}
    name = str(metadata.get("name", ""))
    try:
        key = DeploymentKey(
            app=AppId(uuid.UUID(labels[LABEL_APP])), client_key=notes[ANNOTATION_KEY]
        )
        if key.digest != labels.get(LABEL_DEPLOYMENT):
            raise RecordError(f"namespace {name}: labels and annotations disagree")
        since = notes.get(ANNOTATION_EXPIRING_SINCE)
        services = tuple(
            ServiceEndpoint(
                name=str(item["name"]),
                host=str(item["host"]),
                port=int(item["port"]),
                protocol="udp" if item.get("protocol") == "udp" else "tcp",
            )
            for item in json.loads(notes.get(ANNOTATION_SERVICES, "[]"))
        )
        routes: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(text) for text in json.loads(notes.get(ANNOTATION_ROUTES, "[]"))
        )
        return DeploymentRecord(
            key=key,
            app_name=str(notes.get(ANNOTATION_APP_NAME, name)),
            status=DeploymentStatus(notes[ANNOTATION_STATUS]),
            created=datetime.fromisoformat(notes[ANNOTATION_CREATED]),
            expires=datetime.fromisoformat(notes[ANNOTATION_EXPIRES]),
            lease_seconds=float(notes[ANNOTATION_LEASE]),
            client_address=ipaddress.ip_interface(notes[ANNOTATION_ADDRESS]),
            placement=Placement(
                name=name,
                services=services,
                routes=routes,
                search_domains=search_domains(name, cluster_domain),
            ),
            expiring_since=datetime.fromisoformat(since) if since else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise RecordError(f"namespace {name}: {exc}") from exc


def build_service_account() -> JSON:
    """The tenant's `default` ServiceAccount, without an API token in its pods.

    Creating it ourselves (instead of waiting for the controller) also saves a
    second of pod admission retries on a cold deploy.
    """
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default"},
        "automountServiceAccountToken": False,
    }


@dataclass(frozen=True, slots=True)
class QuotaDefaults:
    cpu: str
    memory: str
    pods: int
    cpu_request: str
    memory_request: str


def build_quota(recipe: Recipe, defaults: QuotaDefaults) -> JSON:
    """The recipe's requests (or the defaults); no GPU unless asked, nothing exposed."""
    needs = recipe.requirements
    cpu = _millicores(needs.cpu_cores) if needs.cpu_cores > 0 else defaults.cpu
    memory = str(needs.memory_bytes) if needs.memory_bytes > 0 else defaults.memory
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME},
        "spec": {
            "hard": {
                "requests.cpu": cpu,
                "requests.memory": memory,
                "requests.nvidia.com/gpu": "1" if needs.gpu else "0",
                "pods": str(defaults.pods),
                "services.nodeports": "0",
                "services.loadbalancers": "0",
            }
        },
    }


def build_limit_range(quota: JSON, defaults: QuotaDefaults) -> JSON:
    """Default requests for containers that name none, never above the quota."""
    hard = quota["spec"]["hard"]
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": LIMITS_NAME},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": {
                        "cpu": _smaller(defaults.cpu_request, hard["requests.cpu"]),
                        "memory": _smaller(defaults.memory_request, hard["requests.memory"]),
                    },
                }
            ]
        },
    }


def build_network_policy(
    ingress: list[IPNetwork], egress: list[IPNetwork], dns_port: int = 53
) -> JSON:
    """Tenants talk to their own namespace, the tunnel's devices and cluster DNS, nothing else."""
    egress_rules: list[JSON] = [
        {"to": [{"podSelector": {}}]},
        {
            "to": [
                {
                    "namespaceSelector": {},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [
                {"protocol": "UDP", "port": dns_port},
                {"protocol": "TCP", "port": dns_port},
            ],
        },
    ]
    if egress:
        egress_rules.append({"to": [{"ipBlock": {"cidr": str(net)}} for net in egress]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": [{"podSelector": {}}, *({"ipBlock": {"cidr": str(n)}} for n in ingress)]}
            ],
            "egress": egress_rules,
        },
    }


def _millicores(cores: float) -> str:
    return f"{math.ceil(cores * 1000)}m"


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity ("100m", "8Gi") as a number; raises ValueError when malformed."""
    value = parse_quantity(text)  # type: ignore[no-untyped-call]
    return Decimal(value)


def _smaller(first: str, second: str) -> str:
    return first if quantity(first) <= quantity(second) else second
