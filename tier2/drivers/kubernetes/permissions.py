"""Exactly the Kubernetes permissions ST-2 uses; `deploy/kubernetes/tier2/rbac.yaml` must match.

Derived from the calls the driver makes and from the kinds a recipe may
hold (`manifests.KINDS`), so adding a kind without granting it fails a test.
"""

from __future__ import annotations

from collections.abc import Mapping

from tier2.drivers.kubernetes.manifests import KINDS

Rules = Mapping[tuple[str, str], frozenset[str]]
"""(API group, resource) → verbs."""


def _group(api_prefix: str) -> str:
    parts = api_prefix.strip("/").split("/")
    return "" if parts[0] == "api" else parts[1]


def cluster_rules() -> dict[tuple[str, str], frozenset[str]]:
    """The ClusterRole: tenant namespaces are made at run time, so grants are cluster-wide."""
    rules: dict[tuple[str, str], set[str]] = {
        ("", "namespaces"): {"create", "list", "patch", "delete"},  # one per deployment
        ("", "nodes"): {"list"},  # readiness (a node Ready) and hardware
        ("", "resourcequotas"): {"create"},
        ("", "limitranges"): {"create"},
        ("", "serviceaccounts"): {"create", "patch"},  # the token-less default account
        ("networking.k8s.io", "networkpolicies"): {"create"},
        ("", "pods"): {"list"},  # readiness
        ("", "services"): {"list"},  # endpoints for the reply
    }
    for resource in KINDS.values():
        verbs = rules.setdefault((_group(resource.api_prefix), resource.plural), set())
        verbs.add("create")
        if resource.workload != "none":
            verbs.add("list")
    return {key: frozenset(verbs) for key, verbs in rules.items()}


CLUSTER_DNS_RULES: Mapping[tuple[str, str], frozenset[str]] = {
    ("", "services"): frozenset({"get"}),
}
"""The Role in kube-system: read the cluster DNS Service (`kube-dns`) and nothing else there."""
