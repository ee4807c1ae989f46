"""What the Kubernetes driver would create, checked as data: parameters, kinds, quota, readiness."""

from __future__ import annotations

import dataclasses
import ipaddress
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.deployment import DeploymentStatus
from common.device import DeviceContext
from common.errors import InvalidRequestError
from common.recipe import Recipe
from common.types import AppId, CloudletId
from tier2.drivers.kubernetes import manifests, objects
from tier2.records import CreateRequest, DeploymentKey, Placement, ServiceEndpoint

CLOUDLET = CloudletId(uuid.UUID(int=7))
DEFAULTS = objects.QuotaDefaults(
    cpu="4", memory="8Gi", pods=20, cpu_request="100m", memory_request="128Mi"
)
# A key whose base64 holds every character a label value cannot.
AWKWARD_KEY = "+/+/" + "A" * 39 + "="


def _deployment(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "example/web:1"}], **spec},
            },
        },
    }


def _recipe(**fields: Any) -> Recipe:
    return Recipe.model_validate(
        {
            "uuid": str(uuid.UUID(int=1)),
            "name": "Open RTiST: style transfer!",
            "kubernetes": {"manifests": [_deployment()]},
            **fields,
        }
    )


def test_parameters_fill_strings_and_keep_types_of_whole_placeholders() -> None:
    rendered = manifests.render(
        [{"spec": {"replicas": "${replicas}", "image": "repo/${image}:${tag}", "n": [1, "${x}"]}}],
        {"replicas": 3, "image": "web", "tag": "v2", "x": True},
    )
    assert rendered == [{"spec": {"replicas": 3, "image": "repo/web:v2", "n": [1, True]}}]


def test_undefined_parameters_are_named_in_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="undefined parameters: missing, other"):
        manifests.render([{"a": "${missing}", "b": ["x-${other}"]}], {})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not an object", "is not an object"),
        ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"}, "not a kind"),
        ({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "x"}}, "not a kind"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "has no metadata"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}, "DNS"),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}},
            "another namespace",
        ),
        (
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
            "managed",
        ),
        (_deployment(hostNetwork=True), "hostNetwork"),
        (_deployment(volumes=[{"name": "v", "hostPath": {"path": "/"}}]), "hostPath"),
    ],
)
def test_bad_manifests_are_refused_before_anything_is_created(document: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        manifests.plan([document], "sf-ns", {})


def test_privileged_containers_and_duplicates_are_refused() -> None:
    privileged = _deployment()
    container = privileged["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"] = {"privileged": True}
    with pytest.raises(InvalidRequestError, match="privileged"):
        manifests.plan([privileged], "sf-ns", {})
    with pytest.raises(InvalidRequestError, match="appears twice"):
        manifests.plan([_deployment(), _deployment()], "sf-ns", {})


def test_planned_objects_are_placed_and_labelled() -> None:
    [planned] = manifests.plan([_deployment()], "sf-ns", {"sinfonia.dev/app": "a"})
    assert planned.label == "Deployment/web"
    assert planned.resource.collection("sf-ns") == "/apis/apps/v1/namespaces/sf-ns/deployments"
    assert planned.body["metadata"]["namespace"] == "sf-ns"
    assert planned.body["metadata"]["labels"] == {"sinfonia.dev/app": "a"}


@pytest.mark.parametrize(
    ("workload", "document", "ready", "failure"),
    [
        ("deployment", {"spec": {"replicas": 2}, "status": {"readyReplicas": 1}}, False, None),
        (
            "deployment",
            {
                "metadata": {"generation": 2},
                "spec": {"replicas": 2},
                "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2},
            },
            True,
            None,
        ),
        (
            "deployment",
            {
                "status": {
                    "conditions": [
                        {
                            "type": "ReplicaFailure",
                            "status": "True",
                            "message": "pods is forbidden: exceeded quota: q",
                        }
                    ]
                }
            },
            False,
            "pods is forbidden: exceeded quota: q",
        ),
        ("statefulset", {"status": {"readyReplicas": 1}}, True, None),
        ("pod", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, True, None),
        ("pod", {"metadata": {"name": "p"}, "status": {"phase": "Failed"}}, False, "failed"),
    ],
)
def test_readiness_of_workloads(
    workload: manifests.Workload, document: dict[str, Any], ready: bool, failure: str | None
) -> None:
    verdict = manifests.judge(workload, document)
    assert verdict.ready is ready
    if failure is None:
        assert verdict.failure is None
    else:
        assert verdict.failure is not None
        assert failure in verdict.failure


def test_pods_that_cannot_start_are_failures() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "containerStatuses": [
                {"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
            ]
        },
    }
    assert manifests.pod_failure(pod) == "pod p container c: ImagePullBackOff"
    assert manifests.pod_failure({"status": {"containerStatuses": [{"state": {}}]}}) is None


def test_endpoints_are_cluster_ips_and_their_routes() -> None:
    services = [
        {
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80, "protocol": "TCP"}]},
        },
        {
            "metadata": {"name": "media"},
            "spec": {
                "clusterIP": "10.96.0.21",
                "ports": [{"name": "rtp", "port": 5004, "protocol": "UDP"}, {"port": 8554}],
            },
        },
        {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}},
    ]
    found, routes = manifests.endpoints(services)
    assert found == (
        ServiceEndpoint("web", "10.96.0.20", 80, "tcp"),
        ServiceEndpoint("media-rtp", "10.96.0.21", 5004, "udp"),
        ServiceEndpoint("media-8554", "10.96.0.21", 8554, "tcp"),
    )
    assert [str(r) for r in routes] == ["10.96.0.20/32", "10.96.0.21/32"]


def test_namespace_names_are_fresh_dns_labels() -> None:
    recipe = _recipe(name="X" * 200)
    first, second = (objects.namespace_name("sf-", recipe) for _ in range(2))
    assert first != second
    assert len(first) <= 63
    assert first.startswith("sf-x")
    assert objects.namespace_name("sf-", _recipe()).startswith("sf-open-rtist-style-transfer-")


def test_a_namespace_carries_its_deployment_and_reads_back() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    key = DeploymentKey(AppId(uuid.UUID(int=1)), AWKWARD_KEY)
    request = CreateRequest(
        key=key,
        name="sf-app-0001",
        recipe=_recipe(),
        device=DeviceContext(),
        client_address=ipaddress.ip_interface("10.251.0.9/32"),
        created=now,
        expires=now + timedelta(seconds=300),
        lease_seconds=300.0,
    )
    namespace = objects.build_namespace("sf-app-0001", CLOUDLET, request)
    labels = namespace["metadata"]["labels"]
    for value in labels.values():
        assert len(value) <= 63
        assert "+" not in value
        assert "/" not in value
    assert labels["app.kubernetes.io/managed-by"] == "sinfonia-tier2"
    assert labels[objects.LABEL_APP] == str(key.app)
    assert namespace["metadata"]["annotations"][objects.ANNOTATION_KEY] == AWKWARD_KEY

    initializing = objects.record_from_namespace(namespace, "cluster.local")
    assert initializing.status is DeploymentStatus.INITIALIZING
    assert initializing.key == key
    deployed = dataclasses.replace(
        initializing.renewed(now),
        placement=Placement(
            name="sf-app-0001",
            services=(ServiceEndpoint("web", "10.96.0.20", 80),),
            routes=(ipaddress.ip_network("10.96.0.20/32"),),
        ),
    )
    patch = objects.placement_annotations(deployed)
    namespace["metadata"]["annotations"].update(patch["metadata"]["annotations"])
    back = objects.record_from_namespace(namespace, "cluster.local")
    assert back.status is DeploymentStatus.DEPLOYED
    assert back.placement.services == deployed.placement.services
    assert back.placement.routes == deployed.placement.routes
    assert back.placement.search_domains[0] == "sf-app-0001.svc.cluster.local"
    assert back.expires == deployed.expires


def test_an_unreadable_namespace_is_a_record_error() -> None:
    with pytest.raises(objects.RecordError):
        objects.record_from_namespace({"metadata": {"name": "x", "labels": {}}}, "cluster.local")


def test_quota_follows_the_recipe_or_the_defaults_and_never_exposes_services() -> None:
    sized = objects.build_quota(
        _recipe(requirements={"cpu_cores": 1.5, "memory_bytes": 2**30, "gpu": True}), DEFAULTS
    )["spec"]["hard"]
    assert sized["requests.cpu"] == "1500m"
    assert sized["requests.memory"] == str(2**30)
    assert sized["requests.nvidia.com/gpu"] == "1"
    plain = objects.build_quota(_recipe(), DEFAULTS)
    hard = plain["spec"]["hard"]
    assert (hard["requests.cpu"], hard["requests.memory"]) == ("4", "8Gi")
    assert hard["requests.nvidia.com/gpu"] == "0"
    assert hard["services.nodeports"] == hard["services.loadbalancers"] == "0"


def test_default_requests_never_exceed_the_quota() -> None:
    small = _recipe(requirements={"cpu_cores": 0.05, "memory_bytes": 1000})
    tiny = objects.build_quota(small, DEFAULTS)
    limits = objects.build_limit_range(tiny, DEFAULTS)["spec"]["limits"][0]["defaultRequest"]
    assert limits == {"cpu": "50m", "memory": "1000"}


def test_network_policy_admits_the_namespace_the_tunnel_and_dns_only() -> None:
    policy = objects.build_network_policy(
        [ipaddress.ip_network("10.251.0.0/24")], [ipaddress.ip_network("192.0.2.0/24")]
    )
    spec = policy["spec"]
    assert spec["podSelector"] == {}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    tunnel = {"ipBlock": {"cidr": "10.251.0.0/24"}}
    assert spec["ingress"] == [{"from": [{"podSelector": {}}, tunnel]}]
    assert spec["egress"][0] == {"to": [{"podSelector": {}}]}
    assert spec["egress"][1]["ports"][0] == {"protocol": "UDP", "port": 53}
    assert spec["egress"][2] == {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}
