"""Real pods (containerd, kubelet, kube-proxy) serve the bundled helloworld through the tunnel.

Opt-in locally (`SINFONIA_REAL_PODS=1`), always on in CI. A real node joins
the test cluster inside the far cloudlet's namespace, tainted so that only this
test's pods run there. The device deploys the helloworld recipe's own
manifests (busybox httpd, an image made here from busybox-static) on the far
cloudlet, and its request goes through WireGuard to the Service's ClusterIP,
where kube-proxy sends it to the real pod. Nothing here is faked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import REAL_APP
from tests.e2e.realnode import RealNode, check_prerequisites, running_real_node
from tests.e2e.world import World
from tests.harness.requirements import in_ci, require
from tier3.sdk import Client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def real_node(world: World) -> Iterator[RealNode]:
    if not in_ci() and os.environ.get("SINFONIA_REAL_PODS") != "1":
        pytest.skip("real pods are opt-in outside CI: set SINFONIA_REAL_PODS=1")
    require(check_prerequisites)
    cluster = world.cluster
    work = world.workdir / "real-node"
    with running_real_node(world.far.namespace, cluster, cluster.kubeconfig, work) as node:
        yield node


def test_a_real_pod_serves_the_device_through_the_tunnel(
    world: World, real_node: RealNode, device: Client
) -> None:
    world.wait_for(
        lambda: [str(c.uuid) for c in device.list_cloudlets()] == [world.far.uuid],
        "the daemon to see far's announcement",
    )
    backend = device.deploy_backend(world.tier1_url, REAL_APP, static_scoping=True)
    try:
        assert backend.source == "jit"
        assert str(backend.deployment.cloudlet) == world.far.uuid
        [service] = backend.services
        url = f"http://{service.host}:{service.port}/"
        answers: list[httpx.Response] = []

        def answered() -> bool:
            answers.append(world.fetch_from_device(url))
            return True

        world.wait_for(answered, "the real pod to answer through the tunnel")
        assert answers[-1].status_code == 200
        greeting = f"Hello from Sinfonia! This is backend {backend.deployment.name}.\n"
        assert answers[-1].text == greeting
    finally:
        device.release_backend(REAL_APP)
