"""The deploy APIs end to end with the local driver: real backend processes, real HTTP to them."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from common.deployment import Deployment, DeploymentStatus
from common.keys import urlsafe_key
from common.v1 import CloudletDeploymentV1
from tests.harness.netns import wireguard_keypair
from tests.tier2.conftest import (
    LOCAL_APP,
    SettingsFactory,
    eventually,
    local_recipe,
    write_recipes,
)
from tier2.app import create_app

LAN = ("127.0.0.1", 40000)
OUTSIDE = ("192.0.2.9", 40000)


def _key() -> str:
    return wireguard_keypair()[1]


@pytest.fixture
def recipes_dir(tmp_path: Path) -> Path:
    return write_recipes(tmp_path / "recipes", local_recipe())


@pytest.fixture
def jit_client(make_settings: SettingsFactory, recipes_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(recipes_dir=recipes_dir, jit=True)
    with TestClient(create_app(settings), client=LAN) as client:
        yield client


def _deploy(
    client: TestClient, key: str, app: uuid.UUID = LOCAL_APP, **extra: Any
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/api/v2/deployments", json={"app": str(app), "client_public_key": key, **extra}
    )
    return response


def _answers(deployment: Deployment) -> str:
    service = deployment.services[0]
    return httpx.get(f"http://{service.host}:{service.port}/", timeout=5, trust_env=False).text


def test_jit_deploy_runs_the_backend_and_a_repeat_renews_it(jit_client: TestClient) -> None:
    key = _key()
    first = _deploy(jit_client, key)
    assert first.status_code == 201, first.text
    deployment = Deployment.model_validate(first.json())
    assert deployment.status is DeploymentStatus.DEPLOYED
    assert deployment.client_public_key == key
    assert deployment.app == LOCAL_APP
    assert str(deployment.cloudlet_endpoint).rstrip("/") == "http://127.0.0.1:5001"
    assert _answers(deployment) == f"hello from {deployment.name}\n"
    tunnel = deployment.tunnel
    assert [str(a) for a in tunnel.address] == ["10.64.0.2/32"]
    assert "127.0.0.1/32" in [str(n) for n in tunnel.allowed_ips]

    again = _deploy(jit_client, key)
    assert again.status_code == 200, again.text
    renewed = Deployment.model_validate(again.json())
    assert renewed.name == deployment.name
    assert renewed.created == deployment.created
    assert renewed.expires is not None
    assert deployment.expires is not None
    assert renewed.expires > deployment.expires
    assert renewed.tunnel.address == tunnel.address

    other = Deployment.model_validate(_deploy(jit_client, _key()).json())
    assert other.name != deployment.name
    assert [str(a) for a in other.tunnel.address] == ["10.64.0.3/32"]


def test_concurrent_requests_for_one_key_make_one_deployment(jit_client: TestClient) -> None:
    key = _key()
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        responses = list(pool.map(lambda _: _deploy(jit_client, key), range(3)))
    assert sorted(r.status_code for r in responses) == [200, 200, 201]
    assert len({r.json()["name"] for r in responses}) == 1


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({"app": str(uuid.UUID(int=99))}, 404, "recipe-not-found"),
        ({"client_public_key": "not-a-key"}, 422, "validation-failed"),
        ({"client_public_key": "A" * 43}, 422, "validation-failed"),
        ({"app": "not-a-uuid"}, 422, "validation-failed"),
        ({"recipe": local_recipe()}, 403, "forbidden"),
    ],
)
def test_bad_deploy_requests_get_problems(
    jit_client: TestClient, body: dict[str, Any], status: int, problem: str
) -> None:
    request = {"app": str(LOCAL_APP), "client_public_key": _key(), **body}
    response = jit_client.post("/api/v2/deployments", json=request)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"urn:sinfonia:problem:{problem}"


def test_a_lan_client_cannot_see_or_release_a_deployment(jit_client: TestClient) -> None:
    key = _key()
    assert _deploy(jit_client, key).status_code == 201
    path = f"/api/v2/deployments/{LOCAL_APP}/{urlsafe_key(key)}"
    for response in (jit_client.get(path), jit_client.delete(path)):
        assert response.status_code == 403
        assert "own deployments" in response.json()["detail"]
    assert jit_client.get(f"/api/v2/deployments/{LOCAL_APP}/not-a-key").status_code == 400


def test_outside_the_local_networks_a_credential_is_required(
    make_settings: SettingsFactory, recipes_dir: Path
) -> None:
    settings = make_settings(recipes_dir=recipes_dir, jit=True)
    with TestClient(create_app(settings), client=OUTSIDE) as client:
        response = _deploy(client, _key())
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        wrong = client.post(
            "/api/v2/deployments",
            json={"app": str(LOCAL_APP), "client_public_key": _key()},
            headers={"Authorization": "Bearer not-a-credential-we-gave"},
        )
        assert wrong.status_code == 401
        assert wrong.json()["type"] == "urn:sinfonia:problem:unauthorized"


def test_without_jit_local_clients_need_a_credential(
    make_settings: SettingsFactory, recipes_dir: Path
) -> None:
    settings = make_settings(recipes_dir=recipes_dir, jit=False)
    with TestClient(create_app(settings), client=LAN) as client:
        assert _deploy(client, _key()).status_code == 401


@pytest.fixture
def trusted_client(make_settings: SettingsFactory, recipes_dir: Path) -> Iterator[TestClient]:
    """Calls from loopback act as an (original, token-less) ST-1."""
    settings = make_settings(recipes_dir=recipes_dir, trusted_tier1_networks=["127.0.0.0/8"])
    with TestClient(create_app(settings), client=LAN) as client:
        yield client


def test_v1_deploy_get_and_release(trusted_client: TestClient) -> None:
    key = _key()
    path = f"/api/v1/deploy/{LOCAL_APP}/{urlsafe_key(key)}"
    created = trusted_client.post(
        path, headers={"X-ClientIP": "198.51.100.7", "X-Location": "40.44,-79.94"}
    )
    assert created.status_code == 201, created.text
    [item] = created.json()
    assert set(item) >= {"UUID", "ApplicationKey", "Status", "TunnelConfig", "DeploymentName"}
    assert set(item["TunnelConfig"]) == {"publicKey", "allowedIPs", "endpoint", "address", "dns"}
    deployment = CloudletDeploymentV1.model_validate(item)
    assert deployment.application_key == key
    assert deployment.status is DeploymentStatus.DEPLOYED

    assert trusted_client.post(path).status_code == 200
    listed = trusted_client.get(path.replace(urlsafe_key(key), key.rstrip("=")))
    assert listed.status_code == 200
    assert listed.json()[0]["DeploymentName"] == deployment.deployment_name

    assert trusted_client.delete(path).status_code == 204
    gone = trusted_client.get(path)
    assert gone.status_code == 404
    assert gone.json()["type"] == "urn:sinfonia:problem:deployment-not-found"
    assert trusted_client.delete(path).status_code == 404


def test_v1_bad_headers_are_a_400(trusted_client: TestClient) -> None:
    path = f"/api/v1/deploy/{LOCAL_APP}/{urlsafe_key(_key())}"
    response = trusted_client.post(path, headers={"X-Location": "north pole"})
    assert response.status_code == 400
    assert "X-Location" in response.json()["detail"]


def test_release_stops_the_backend_process(trusted_client: TestClient) -> None:
    key = _key()
    deployment = Deployment.model_validate(_deploy(trusted_client, key).json())
    assert _answers(deployment).startswith("hello")
    path = f"/api/v2/deployments/{LOCAL_APP}/{urlsafe_key(key)}"
    assert trusted_client.get(path).json()["name"] == deployment.name
    assert trusted_client.delete(path).status_code == 204
    with pytest.raises(httpx.ConnectError):
        _answers(deployment)
    assert trusted_client.get(path).status_code == 404


def test_a_recipe_for_another_app_is_refused(trusted_client: TestClient) -> None:
    response = _deploy(trusted_client, _key(), recipe=local_recipe(app=uuid.UUID(int=5)))
    assert response.status_code == 400
    assert "not " + str(LOCAL_APP) in response.json()["detail"]


def test_unused_deployments_expire_and_are_reclaimed(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    recipes = write_recipes(tmp_path / "short", local_recipe(lease_seconds=0.5))
    settings = make_settings(
        recipes_dir=recipes,
        trusted_tier1_networks=["127.0.0.0/8"],
        lifecycle={"gc_interval": 0.2, "expiring_grace": 0.6},
    )
    with TestClient(create_app(settings), client=LAN) as client:
        key = _key()
        deployment = Deployment.model_validate(_deploy(client, key).json())
        path = f"/api/v2/deployments/{LOCAL_APP}/{urlsafe_key(key)}"

        def status() -> str | None:
            response = client.get(path)
            return response.json()["status"] if response.status_code == 200 else None

        assert eventually(lambda: status() == "Expiring", seconds=5)
        assert eventually(lambda: status() is None, seconds=5)
        with pytest.raises(httpx.ConnectError):
            _answers(deployment)
        metrics = client.get("/metrics").text
        assert 'sinfonia_tier2_lifecycle_transitions_total{action="expire"} 1.0' in metrics


def test_health_readiness_and_cloudlet_info(trusted_client: TestClient) -> None:
    assert trusted_client.get("/healthz").json() == {"status": "ok"}
    assert trusted_client.get("/readyz").json()["status"] == "ready"
    info = trusted_client.get("/api/v2/cloudlet").json()
    assert info["name"] == "test-cloudlet"
    assert info["ready"] is True
    assert "sinfonia_tier2_deploy_seconds" in trusted_client.get("/metrics").text
