"""Smoke test: the kubernetes_cluster fixture is a real API server with working controllers."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable

import pytest
from kubernetes import client, config
from kubernetes.client import ApiException

from tests.harness.kubernetes_cluster import KubernetesCluster

pytestmark = pytest.mark.kubernetes

#: Bound for anything the controllers and the fake kubelet must do.
CONVERGE_SECONDS = 60.0


def _eventually(check: Callable[[], bool], seconds: float = CONVERGE_SECONDS) -> bool:
    """Poll ``check`` every 0.25 s until it is true or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return check()


def _deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(name="app", image="sinfonia/test-app:1")
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container]),
            ),
        ),
    )


def _ready(pod: client.V1Pod) -> bool:
    conditions = pod.status.conditions if pod.status and pod.status.conditions else []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _namespace_gone(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.read_namespace(namespace)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def test_deployment_pod_becomes_ready(kubernetes_cluster: KubernetesCluster) -> None:
    namespace = f"harness-{uuid.uuid4().hex[:8]}"
    with kubernetes_cluster.api_client() as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        try:
            apps.create_namespaced_deployment(namespace, _deployment("echo"))

            def ready_pods() -> list[client.V1Pod]:
                pods = core.list_namespaced_pod(namespace, label_selector="app=echo").items
                return [pod for pod in pods if _ready(pod)]

            assert _eventually(lambda: len(ready_pods()) == 1), "no Ready pod in time"
            pod = ready_pods()[0]
            assert pod.spec is not None
            assert pod.status is not None
            assert pod.spec.node_name == kubernetes_cluster.node_name
            assert pod.status.phase == "Running"
            assert pod.status.pod_ip

            def deployment_ready() -> bool:
                status = apps.read_namespaced_deployment_status("echo", namespace).status
                return status is not None and status.ready_replicas == 1

            assert _eventually(deployment_ready), "the Deployment never had 1 ready replica"
        finally:
            core.delete_namespace(namespace)
        # Namespace deletion needs the fake kubelet to remove the pod; it takes about 10 s.
        assert _eventually(lambda: _namespace_gone(core, namespace)), "namespace not deleted"


def test_wrong_token_is_unauthorized(kubernetes_cluster: KubernetesCluster) -> None:
    wrong_token = secrets.token_hex(16)
    with (
        kubernetes_cluster.api_client(token=wrong_token) as api,
        pytest.raises(ApiException) as caught,
    ):
        client.CoreV1Api(api).list_namespace()
    assert caught.value.status == 401


def test_kubeconfig_file_works(kubernetes_cluster: KubernetesCluster) -> None:
    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubernetes_cluster.kubeconfig)
    )
    try:
        nodes = client.CoreV1Api(api).list_node().items
    finally:
        api.close()
    assert [n.metadata.name for n in nodes if n.metadata] == [kubernetes_cluster.node_name]
