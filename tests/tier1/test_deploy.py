"""Deploy fan-out through ST-1's API against stand-in ST-2 servers that deploy, refuse and hang."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.keys import urlsafe_key
from common.v1 import CloudletDeploymentV1
from tests.support.servers import serve_in_thread
from tests.tier1.conftest import APP, GPU_APP, KEY, RESTRICTED_APP
from tests.tier1.registration_bodies import registration
from tests.tier1.standins import Behaviour, StandInCloudlet

PITTSBURGH = "40.44,-79.94"
DEPLOY_TOKEN = "deploy-token-0123456789abcdef"


class Fleet:
    """Stand-in cloudlets, each served on its own port and registered with ST-1."""

    def __init__(self, client: TestClient, stack: ExitStack) -> None:
        self.client = client
        self.stack = stack
        self.cloudlets: dict[int, StandInCloudlet] = {}

    def add(
        self, number: int, behaviour: Behaviour = "deploy", km_east: float = 0.0, **cloudlet: Any
    ) -> StandInCloudlet:
        standin = StandInCloudlet(uuid.UUID(int=number), behaviour)
        url = self.stack.enter_context(serve_in_thread(standin.app()))
        body = registration(
            number, endpoint=url, locations=[[40.44, -79.94 + km_east / 85.0]], **cloudlet
        )
        body["deploy_credential"] = DEPLOY_TOKEN
        response = self.client.post("/api/v2/cloudlets", json=body)
        assert response.status_code == 201, response.text
        self.cloudlets[number] = standin
        return standin


@pytest.fixture
def fleet_factory(make_client: Callable[..., TestClient]) -> Iterator[Callable[..., Fleet]]:
    with ExitStack() as stack:

        def make(**settings: Any) -> Fleet:
            return Fleet(make_client(**settings), stack)

        yield make


def deploy_v1(client: TestClient, app: str = APP, results: int | None = None) -> Any:
    params = {} if results is None else {"results": results}
    return client.post(
        f"/api/v1/deploy/{app}/{urlsafe_key(KEY)}",
        params=params,
        headers={"X-Location": PITTSBURGH},
    )


def test_v1_deploy_returns_up_to_n_in_rank_order(fleet_factory: Callable[..., Fleet]) -> None:
    fleet = fleet_factory()
    for number, km in ((1, 300.0), (2, 10.0), (3, 100.0), (4, 1000.0)):
        fleet.add(number, km_east=km)
    response = deploy_v1(fleet.client, results=3)
    assert response.status_code == 200, response.text
    deployments = [CloudletDeploymentV1.model_validate(item) for item in response.json()]
    assert [d.deployment_name for d in deployments] == ["d-000002", "d-000003", "d-000001"]
    assert all(d.application_key == KEY for d in deployments)
    assert set(response.json()[0]) >= {"UUID", "ApplicationKey", "Status", "TunnelConfig"}
    assert fleet.cloudlets[4].deploys == []


def test_st2_gets_the_recipe_the_device_context_and_the_deploy_credential(
    fleet_factory: Callable[..., Fleet],
) -> None:
    fleet = fleet_factory()
    standin = fleet.add(1)
    response = fleet.client.post(
        "/api/v2/deploy",
        json={
            "app": APP,
            "client_public_key": urlsafe_key(KEY),
            "device": {"location": PITTSBURGH, "network": "wifi", "address": "10.9.9.9"},
        },
    )
    assert response.status_code == 200, response.text
    ((request, headers),) = standin.deploys
    assert headers["authorization"] == f"Bearer {DEPLOY_TOKEN}"
    assert request.recipe is not None
    assert request.recipe.name == "helloworld"
    assert request.client_public_key == KEY
    assert str(request.device.address) == "192.0.2.10"  # what ST-1 saw, not what it was told
    assert request.device.network.value == "wifi"


def test_a_refusing_cloudlet_falls_through_to_the_next(fleet_factory: Callable[..., Fleet]) -> None:
    fleet = fleet_factory()
    fleet.add(1, "refuse", km_east=1.0)
    fleet.add(2, "garbage", km_east=2.0)
    fleet.add(3, km_east=50.0)
    response = deploy_v1(fleet.client)
    assert response.status_code == 200, response.text
    assert [item["DeploymentName"] for item in response.json()] == ["d-000003"]
    assert len(fleet.cloudlets[1].deploys) == len(fleet.cloudlets[2].deploys) == 1
    metrics = fleet.client.get("/metrics").text
    assert 'sinfonia_tier1_deploy_outcomes_total{outcome="failed"} 2.0' in metrics


def test_a_hanging_cloudlet_cannot_hold_the_device(fleet_factory: Callable[..., Fleet]) -> None:
    fleet = fleet_factory(deploy={"cloudlet_timeout": 0.5, "deadline": 5.0})
    fleet.add(1, "hang", km_east=1.0)
    fleet.add(2, km_east=80.0)
    started = time.monotonic()
    response = deploy_v1(fleet.client)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert [item["DeploymentName"] for item in response.json()] == ["d-000002"]
    assert elapsed < 3.0


def test_the_overall_deadline_bounds_the_request(fleet_factory: Callable[..., Fleet]) -> None:
    fleet = fleet_factory(deploy={"cloudlet_timeout": 10.0, "deadline": 0.7})
    fleet.add(1, "hang")
    started = time.monotonic()
    response = deploy_v1(fleet.client)
    assert time.monotonic() - started < 3.0
    assert response.status_code == 504
    assert response.json()["type"] == "urn:sinfonia:problem:upstream-timeout"


def test_when_every_cloudlet_fails_the_problem_says_so(fleet_factory: Callable[..., Fleet]) -> None:
    fleet = fleet_factory()
    fleet.add(1, "refuse")
    fleet.add(2, "refuse")
    response = deploy_v1(fleet.client, results=3)
    assert response.status_code == 502
    body = response.json()
    assert body["type"] == "urn:sinfonia:problem:upstream"
    assert "edge-1" in body["detail"]
    assert "edge-2" in body["detail"]


def test_no_cloudlets_and_no_eligible_cloudlets_explain_why(
    fleet_factory: Callable[..., Fleet],
) -> None:
    empty = fleet_factory()
    none_known = deploy_v1(empty.client)
    assert none_known.status_code == 503
    assert "no cloudlet is registered" in none_known.json()["detail"]

    fleet = fleet_factory()
    fleet.add(1, accepted_clients=["10.0.0.0/8"])
    refused = deploy_v1(fleet.client)
    assert refused.status_code == 503
    body = refused.json()
    assert body["type"] == "urn:sinfonia:problem:no-eligible-cloudlet"
    assert body["detail"] == "no cloudlet accepts clients from this network"
    assert body["reasons"] == {"client-networks: client network is not accepted": ["edge-1"]}

    gpu = deploy_v1(fleet.client, app=GPU_APP)
    assert gpu.status_code == 503
    assert fleet.cloudlets[1].deploys == []


def test_a_gpu_recipe_goes_only_to_the_gpu_cloudlet(fleet_factory: Callable[..., Fleet]) -> None:
    fleet = fleet_factory()
    fleet.add(1, km_east=1.0)
    fleet.add(2, km_east=4000.0, hardware={"gpus": [{"model": "A100", "count": 2}]})
    response = deploy_v1(fleet.client, app=GPU_APP, results=3)
    assert response.status_code == 200, response.text
    assert [item["DeploymentName"] for item in response.json()] == ["d-000002"]


def test_candidates_without_deploying_and_release_everywhere(
    fleet_factory: Callable[..., Fleet],
) -> None:
    fleet = fleet_factory()
    fleet.add(1, km_east=5.0)
    fleet.add(2, km_east=50.0)
    path = f"/api/v1/deploy/{APP}/{urlsafe_key(KEY)}"
    listed = fleet.client.get(path, params={"results": 2}, headers={"X-Location": PITTSBURGH})
    assert [row["name"] for row in listed.json()] == ["edge-1", "edge-2"]
    assert fleet.cloudlets[1].deploys == []

    assert deploy_v1(fleet.client, results=2).status_code == 200
    native = f"/api/v2/deploy/{APP}/{urlsafe_key(KEY)}"
    only_second = fleet.client.delete(native, params={"cloudlet": str(uuid.UUID(int=2))})
    assert only_second.status_code == 204
    assert fleet.cloudlets[1].releases == []
    assert fleet.cloudlets[2].releases == [f"{APP}/{urlsafe_key(KEY)}"]
    assert fleet.client.delete(path).status_code == 204
    for number in (1, 2):
        assert fleet.cloudlets[number].releases[-1] == f"{APP}/{urlsafe_key(KEY)}"
    assert len(fleet.cloudlets[1].releases) == 1


@pytest.mark.parametrize(
    ("path", "status", "slug"),
    [
        (f"/api/v1/deploy/{APP}/not-a-key", 422, "validation-failed"),
        (f"/api/v1/deploy/not-a-uuid/{urlsafe_key(KEY)}", 422, "validation-failed"),
        (f"/api/v1/deploy/{uuid.UUID(int=77)}/{urlsafe_key(KEY)}", 404, "recipe-not-found"),
    ],
)
def test_bad_deploy_requests(
    fleet_factory: Callable[..., Fleet], path: str, status: int, slug: str
) -> None:
    fleet = fleet_factory()
    fleet.add(1)
    response = fleet.client.post(path)
    assert response.status_code == status
    assert response.json()["type"] == f"urn:sinfonia:problem:{slug}"
    assert fleet.cloudlets[1].deploys == []


@pytest.mark.parametrize(("results", "status"), [(0, 422), (4, 422), (3, 200)])
def test_results_is_one_to_three(
    fleet_factory: Callable[..., Fleet], results: int, status: int
) -> None:
    fleet = fleet_factory()
    fleet.add(1)
    assert deploy_v1(fleet.client, results=results).status_code == status


def test_standard_base64_keys_with_slashes_work_in_v1_paths(
    fleet_factory: Callable[..., Fleet],
) -> None:
    fleet = fleet_factory()
    fleet.add(1)
    slashed = "/+//" + KEY[4:]  # a valid key whose standard encoding has '/' in it
    response = fleet.client.post(f"/api/v1/deploy/{APP}/{slashed}")
    assert response.status_code == 200, response.text
    assert response.json()[0]["ApplicationKey"].startswith("/+//")


def test_recipes_honour_restricted(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.get(f"/api/v1/recipe/{APP}/").json()["name"] == "helloworld"
    assert client.get(f"/api/v1/recipe/{RESTRICTED_APP}/").status_code == 403
    missing = client.get(f"/api/v1/recipe/{uuid.UUID(int=5)}/")
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:sinfonia:problem:recipe-not-found"
    assert client.get("/api/v1/recipe/..%2f..%2fetc%2fpasswd/").status_code in (404, 422)


@pytest.mark.parametrize(("trusted", "status"), [(False, 503), (True, 200)])
def test_x_clientip_is_believed_only_from_a_trusted_proxy(
    fleet_factory: Callable[..., Fleet], trusted: bool, status: int
) -> None:
    proxies = ["192.0.2.0/24"] if trusted else []
    fleet = fleet_factory(clients={"trusted_proxies": proxies})
    fleet.add(1, accepted_clients=["198.51.100.0/24"])
    response = fleet.client.post(
        f"/api/v1/deploy/{APP}/{urlsafe_key(KEY)}", headers={"X-ClientIP": "198.51.100.1"}
    )
    assert response.status_code == status, response.text
