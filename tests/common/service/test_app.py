"""The shared service shell: problem bodies for every failure, body limits, health and metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter

from common.deployment import DeployRequest
from common.errors import NoEligibleCloudletError, RecipeNotFoundError, UnauthorizedError
from common.problem import PROBLEM_MEDIA_TYPE
from common.service.app import build_service_app

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
LIMIT = 4096


class Dependency:
    """A readiness check whose outcome the test controls."""

    def __init__(self) -> None:
        self.healthy = True
        self.hang = False

    async def check(self) -> None:
        if self.hang:
            await asyncio.sleep(30)
        if not self.healthy:
            raise ConnectionError("refused")


@pytest.fixture
def dependency() -> Dependency:
    return Dependency()


@pytest.fixture
def app(dependency: Dependency) -> FastAPI:
    registry = CollectorRegistry()
    requests = Counter("sinfonia_test_requests_total", "Requests.", registry=registry)
    app = build_service_app(
        title="test",
        version="0",
        registry=registry,
        max_body_bytes=LIMIT,
        readiness_checks={"database": dependency.check},
    )

    @app.post("/deploy")
    async def deploy(request: DeployRequest) -> dict[str, int]:
        requests.inc()
        return {"results": request.results}

    @app.get("/recipe/{app_id}")
    async def recipe(app_id: uuid.UUID) -> None:
        raise RecipeNotFoundError(f"no recipe for {app_id}")

    @app.get("/select")
    async def select() -> None:
        raise NoEligibleCloudletError("none fits", {"gpu": ["edge-1"]})

    @app.get("/private")
    async def private() -> None:
        raise UnauthorizedError("no credential")

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def assert_problem(response: object, status: int, slug: str) -> dict[str, object]:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["type"] == f"urn:sinfonia:problem:{slug}"
    return body


def test_valid_request_passes(client: TestClient) -> None:
    response = client.post("/deploy", json={"app": str(uuid.uuid4()), "client_public_key": KEY})
    assert response.status_code == 200
    assert response.json() == {"results": 1}


def test_validation_errors_are_422_problems_with_field_errors(client: TestClient) -> None:
    response = client.post("/deploy", json={"app": "nope", "client_public_key": KEY, "results": 9})
    body = assert_problem(response, 422, "validation-failed")
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(error["loc"]) for error in errors} == {("body", "app"), ("body", "results")}
    assert isinstance(body["detail"], str)
    assert "body.app" in body["detail"]


def test_malformed_json_is_a_problem_not_a_crash(client: TestClient) -> None:
    response = client.post(
        "/deploy", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "validation-failed")


def test_domain_errors_map_to_their_status(client: TestClient) -> None:
    body = assert_problem(client.get(f"/recipe/{uuid.UUID(int=5)}"), 404, "recipe-not-found")
    assert body["detail"] == f"no recipe for {uuid.UUID(int=5)}"
    assert body["instance"] == f"/recipe/{uuid.UUID(int=5)}"
    body = assert_problem(client.get("/select"), 503, "no-eligible-cloudlet")
    assert body["reasons"] == {"gpu": ["edge-1"]}
    assert body["retryable"] is True


def test_unauthorized_asks_for_a_bearer_token(client: TestClient) -> None:
    response = client.get("/private")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_routing_errors_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/nowhere"), 404, "not-found")
    response = client.delete("/deploy")
    assert_problem(response, 405, "http-405")
    assert "POST" in response.headers["allow"]


def test_crashes_are_500_problems_that_leak_nothing(client: TestClient) -> None:
    body = assert_problem(client.get("/crash"), 500, "internal")
    assert "passwd" not in str(body)
    assert "RuntimeError" not in str(body)


def test_oversized_body_declared_in_content_length_is_413(client: TestClient) -> None:
    response = client.post(
        "/deploy", content=b"x" * (LIMIT + 1), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload-too-large")


def test_oversized_streamed_body_without_length_is_413(client: TestClient, app: FastAPI) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b" " * 1024

    response = client.post(
        "/deploy", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")


def test_healthz_and_readyz(client: TestClient, dependency: Dependency) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "checks": ["database"]}
    dependency.healthy = False
    body = assert_problem(client.get("/readyz"), 503, "unavailable")
    assert body["detail"] == "not ready: database: ConnectionError"
    assert client.get("/healthz").status_code == 200


def test_readiness_check_that_hangs_is_bounded(client: TestClient, dependency: Dependency) -> None:
    dependency.hang = True
    body = assert_problem(client.get("/readyz"), 503, "unavailable")
    assert "no answer within 2s" in str(body["detail"])


def test_metrics_are_exposed_from_the_apps_registry(client: TestClient) -> None:
    client.post("/deploy", json={"app": str(uuid.uuid4()), "client_public_key": KEY})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "sinfonia_test_requests_total 1.0" in response.text
