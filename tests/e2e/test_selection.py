"""The short list follows the selection rules: proximity, load, client ACLs, GPU requirements.

Rankings come from ST-1's candidates listing (`GET /api/v2/deploy/{app}/{key}`,
the ranked list with each plugin's score) as a device described by headers
would get it: ST-1 believes `X-Forwarded-For` from its own host, the trusted
proxy here. Loads travel the whole real path: stand-in exporter, Prometheus,
ST-2's PromQL, keepalive, ST-1's table.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import BATCH_APP, GPU_APP
from tests.e2e.world import (
    DEVICE_LOCATION,
    FAR_BUSY,
    FAR_LOCATION,
    HELLOWORLD,
    NEAR_BUSY,
    World,
)
from tier3.sdk import Client

pytestmark = pytest.mark.e2e

AT_HOME = {"X-Location": f"{DEVICE_LOCATION[0]},{DEVICE_LOCATION[1]}"}
IN_DENVER = {"X-Location": f"{FAR_LOCATION[0] + 0.01},{FAR_LOCATION[1] + 0.01}"}


def _ranked(world: World, app: uuid.UUID, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = world.candidates(app, headers)
    assert response.status_code == 200, response.text
    ranked: list[dict[str, Any]] = response.json()
    totals = [candidate["score"] for candidate in ranked]
    assert totals == sorted(totals, reverse=True), ranked
    return ranked


def _names(ranked: list[dict[str, Any]]) -> list[str]:
    return [candidate["name"] for candidate in ranked]


def test_an_interactive_app_goes_to_the_nearest_cloudlet(world: World) -> None:
    at_home = _ranked(world, HELLOWORLD, AT_HOME)
    assert _names(at_home) == ["near", "far"]
    near, far = at_home
    # Near wins on proximity although it is the busier one: interactive apps live on latency.
    assert near["scores"]["proximity"] > far["scores"]["proximity"]
    assert near["scores"]["least-loaded"] < far["scores"]["least-loaded"]

    in_denver = _ranked(world, HELLOWORLD, IN_DENVER)
    assert _names(in_denver) == ["far", "near"]
    assert in_denver[0]["scores"]["proximity"] > in_denver[1]["scores"]["proximity"]


def test_a_batch_app_goes_to_the_least_loaded_cloudlet_and_follows_the_load(
    world: World,
) -> None:
    world.wait_for_loads(NEAR_BUSY, FAR_BUSY)
    ranked = _ranked(world, BATCH_APP, AT_HOME)
    assert _names(ranked) == ["far", "near"]
    far, near = ranked
    assert far["scores"]["least-loaded"] == pytest.approx(100 * (1 - FAR_BUSY), abs=3)
    assert near["scores"]["least-loaded"] == pytest.approx(100 * (1 - NEAR_BUSY), abs=3)
    assert near["scores"]["proximity"] > far["scores"]["proximity"]  # and proximity lost

    # The far cloudlet gets busy, the near one idle: the next ranking turns around.
    world.far.node.set_busy(0.9)
    world.near.node.set_busy(0.05)
    try:
        world.wait_for_loads(0.05, 0.9)
        assert _names(_ranked(world, BATCH_APP, AT_HOME)) == ["near", "far"]
    finally:
        world.far.node.set_busy(FAR_BUSY)
        world.near.node.set_busy(NEAR_BUSY)
        world.wait_for_loads(NEAR_BUSY, FAR_BUSY)


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        pytest.param(None, ["near", "far"], id="accepted-by-both"),
        pytest.param("198.51.100.7", ["far"], id="rejected-by-near"),
        pytest.param("203.0.113.9", ["near"], id="not-accepted-by-far"),
    ],
)
def test_client_acls_drop_cloudlets(world: World, client: str | None, expected: list[str]) -> None:
    headers = dict(AT_HOME)
    if client is not None:
        headers["X-Forwarded-For"] = client
    assert _names(_ranked(world, HELLOWORLD, headers)) == expected


def test_a_client_no_cloudlet_accepts_gets_the_reasons(world: World) -> None:
    response = world.candidates(HELLOWORLD, {**AT_HOME, "X-Forwarded-For": "192.0.2.5"})
    assert response.status_code == 503, response.text
    problem = response.json()
    assert problem["type"] == "urn:sinfonia:problem:no-eligible-cloudlet"
    assert problem["reasons"] == {
        "client-networks: client network is rejected": ["near"],
        "client-networks: client network is not accepted": ["far"],
    }


def test_a_gpu_app_is_placed_only_on_the_gpu_cloudlet(world: World, device: Client) -> None:
    # From home the near cloudlet would win on proximity, but it has no GPU.
    assert _names(_ranked(world, GPU_APP, AT_HOME)) == ["far"]
    backend = device.deploy_backend(world.tier1_url, GPU_APP, discover=False, results=3)
    try:
        assert backend.candidates == 1
        assert str(backend.deployment.cloudlet) == world.far.uuid
        assert world.live_namespaces(world.near, GPU_APP) == []
        assert world.live_namespaces(world.far, GPU_APP) == [backend.deployment.name]
    finally:
        device.release_backend(GPU_APP)
