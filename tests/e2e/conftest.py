"""The e2e world (every tier as a real process, see `tests/e2e/world.py`), once for the package."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.realnode import TAINT_KEY
from tests.e2e.world import HELLOWORLD, World, recipe, running_world
from tests.harness.kubernetes_cluster import KubernetesCluster
from tests.harness.netns import NetnsHosts
from tests.harness.redis_server import RedisServer
from tier3.sdk import Client

# One app per test that deploys, so that tests do not renew each other's deployments.
BATCH_APP = uuid.UUID("e2e00000-0000-4000-8000-00000000ba7c")
GPU_APP = uuid.UUID("e2e00000-0000-4000-8000-0000000000c9")
TUNNEL_APP = uuid.UUID("e2e00000-0000-4000-8000-00000000a001")
TTL_APP = uuid.UUID("e2e00000-0000-4000-8000-00000000a002")
JIT_APP = uuid.UUID("e2e00000-0000-4000-8000-00000000a003")
REAL_APP = uuid.UUID("e2e00000-0000-4000-8000-00000000a004")
JIT_LEASE_SECONDS = 4.0


def _on_the_real_node(document: dict[str, Any]) -> dict[str, Any]:
    """The recipe with its pods pinned to the real node (`tests/e2e/realnode.py`), which
    tolerates nothing else."""
    document = copy.deepcopy(document)
    for manifest in document["kubernetes"]["manifests"]:
        if manifest["kind"] == "Deployment":
            pod = manifest["spec"]["template"]["spec"]
            pod["nodeSelector"] = {TAINT_KEY: "true"}
            pod["tolerations"] = [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    return document


TIER1_RECIPES = [
    recipe("helloworld", HELLOWORLD),
    recipe("crunch", BATCH_APP, selection={"qoe_class": "batch"}),
    recipe("render", GPU_APP, requirements={"gpu": True, "cpu_cores": 0.1}),
    recipe("hello-tunnel", TUNNEL_APP),
    recipe("hello-ttl", TTL_APP),
    recipe("hello-jit", JIT_APP, lease_seconds=JIT_LEASE_SECONDS),
]
#: The JIT cloudlet's own recipes: a device on its network deploys these without ST-1.
JIT_RECIPES = [
    recipe("helloworld", HELLOWORLD),
    TIER1_RECIPES[-1],
    _on_the_real_node(recipe("hello-real", REAL_APP)),
]


@pytest.fixture(scope="package")
def world(
    netns_hosts: NetnsHosts,
    kubernetes_cluster: KubernetesCluster,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("e2e")
    with running_world(
        netns_hosts, kubernetes_cluster, redis_server, workdir, TIER1_RECIPES, JIT_RECIPES
    ) as world:
        yield world


@pytest.fixture
def device(world: World) -> Iterator[Client]:
    """The SDK, as an app on the device uses it, talking to the ST-3 daemon."""
    with Client(uds=world.daemon_socket, timeout=120) as client:
        yield client
