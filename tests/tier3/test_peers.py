"""Outbound calls: bounded connect retries, errors translated once, v1 answers made native."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest

from common.device import DeviceContext
from common.errors import (
    NoEligibleCloudletError,
    UpstreamError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
)
from common.types import AppId
from common.v1 import CloudletDeploymentV1
from tier3.daemon.peers import Peers, deployment_from_v1
from tier3.errors import PeerUnreachableError, Tier1UnreachableError
from tier3.schema import Tier1Api

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
APP = AppId(uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"))
ST1 = "http://tier1.test/base/"


class Transport(httpx.AsyncBaseTransport):
    """The network edge: answers (or fails) each request as the test says, counting them."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


def _peers(transport: Transport, sleeps: list[float], attempts: int = 3) -> Peers:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, connect=1))
    return Peers(
        http,
        deploy_timeout=5,
        jit_deploy_timeout=5,
        release_timeout=1,
        connect_attempts=attempts,
        sleep=sleep,
    )


@pytest.fixture
async def closing() -> AsyncIterator[list[Peers]]:
    made: list[Peers] = []
    yield made
    for peers in made:
        await peers.http.aclose()


async def _fetch(peers: Peers, api: Tier1Api = Tier1Api.V2) -> object:
    return await peers.fetch_tier1_deployments(
        ST1, app=APP, public_key=KEY, device=DeviceContext(), results=2, api=api
    )


async def test_failed_connects_are_retried_a_bounded_number_of_times(
    closing: list[Peers],
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    transport, sleeps = Transport(refuse), list[float]()
    peers = _peers(transport, sleeps, attempts=3)
    closing.append(peers)
    with pytest.raises(Tier1UnreachableError, match="after 3 attempt"):
        await _fetch(peers)
    assert len(transport.requests) == 3
    assert len(sleeps) == 2
    assert 0.1 <= sleeps[0] <= 0.125
    assert 0.4 <= sleeps[1] <= 0.5
    assert str(transport.requests[0].url) == "http://tier1.test/base/api/v2/deploy"


async def test_a_read_timeout_is_not_retried(closing: list[Peers]) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    transport, sleeps = Transport(hang), list[float]()
    peers = _peers(transport, sleeps)
    closing.append(peers)
    with pytest.raises(UpstreamTimeoutError, match="did not answer POST within 5s"):
        await _fetch(peers)
    assert len(transport.requests) == 1
    assert sleeps == []


async def test_a_cloudlet_that_cannot_be_reached_is_a_peer_error(closing: list[Peers]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    peers = _peers(Transport(refuse), [], attempts=1)
    closing.append(peers)
    with pytest.raises(PeerUnreachableError) as caught:
        await peers.deploy_on_cloudlet(
            "http://st2.test", app=APP, public_key=KEY, device=DeviceContext()
        )
    assert not isinstance(caught.value, Tier1UnreachableError)


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (
            httpx.Response(502, text="<html>bad gateway</html>"),
            UpstreamError,
            "ST-1 answered 502 Bad Gateway",
        ),
        (
            httpx.Response(404, json={"detail": "Not Found"}),
            UpstreamError,
            "ST-1 answered 404",
        ),
        (
            httpx.Response(
                404,
                json={
                    "type": "urn:sinfonia:problem:not-found",
                    "title": "Not found",
                    "status": 404,
                },
                headers={"content-type": "application/problem+json"},
            ),
            UpstreamRejectedError,
            "older ST-1",
        ),
        (
            httpx.Response(
                503,
                json={
                    "type": "urn:sinfonia:problem:no-eligible-cloudlet",
                    "title": "No cloudlet",
                    "status": 503,
                    "reasons": {"gpu": ["edge-1"]},
                },
                headers={"content-type": "application/problem+json"},
            ),
            NoEligibleCloudletError,
            "No cloudlet",
        ),
        (httpx.Response(200, json={"deployments": "nope"}), UpstreamError, "cannot read"),
    ],
)
async def test_tier1_answers_become_typed_errors(
    closing: list[Peers], response: httpx.Response, error: type[Exception], message: str
) -> None:
    peers = _peers(Transport(lambda request: response), [])
    closing.append(peers)
    with pytest.raises(error, match=message):
        await _fetch(peers)


async def test_v1_request_shape(closing: list[Peers]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[
                {
                    "UUID": str(APP),
                    "ApplicationKey": KEY,
                    "Status": "Deployed",
                    "DeploymentName": "helloworld-abc",
                    "Created": "2024-05-01T12:00:00",
                    "TunnelConfig": {
                        "publicKey": KEY,
                        "allowedIPs": ["10.0.0.0/24"],
                        "endpoint": "192.0.2.7:51820",
                        "address": ["10.0.0.9/32"],
                        "dns": ["10.0.0.10"],
                    },
                }
            ],
        )

    transport = Transport(answer)
    peers = _peers(transport, [])
    closing.append(peers)
    device = DeviceContext.model_validate({"location": "40.44,-79.94"})
    deployments = await peers.fetch_tier1_deployments(
        ST1, app=APP, public_key=KEY, device=device, results=2, api=Tier1Api.V1
    )
    (request,) = transport.requests
    assert (
        request.url.path == f"/base/api/v1/deploy/{APP}/yAnz5TF-lXXJte14tji3zlMNq-hd2rYUIgJBgB3fBmk"
    )
    assert request.url.params["results"] == "2"
    assert request.headers["X-Location"] == "40.44,-79.94"
    (deployment,) = deployments
    assert deployment.name == "helloworld-abc"
    assert deployment.created == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert deployment.cloudlet_endpoint is None
    assert [str(n) for n in deployment.tunnel.allowed_ips] == ["10.0.0.0/24"]


def test_v1_deployments_from_one_cloudlet_get_one_stable_id() -> None:
    item = CloudletDeploymentV1.model_validate(
        {
            "UUID": str(APP),
            "ApplicationKey": KEY,
            "Status": "Deployed",
            "TunnelConfig": {
                "publicKey": KEY,
                "allowedIPs": ["10.0.0.0/24"],
                "endpoint": "edge.example.org:51820",
                "address": ["10.0.0.9/32"],
            },
        }
    )
    first = deployment_from_v1(item, app=APP, public_key=KEY)
    second = deployment_from_v1(item, app=APP, public_key=KEY)
    assert first.cloudlet == second.cloudlet
    assert first.name == second.name
    assert first.name.startswith("v1-")
    assert first.created.tzinfo is not None
