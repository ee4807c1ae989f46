"""The external selector reorders and drops; on a timeout or garbage ST-1 keeps its ranking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from common.keys import urlsafe_key
from tests.support.servers import serve_in_thread
from tests.tier1.conftest import APP, KEY
from tests.tier1.registration_bodies import registration


class Selector:
    def __init__(self) -> None:
        self.mode = "reverse"
        self.seen: list[dict[str, Any]] = []

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/rank")
        async def rank(request: Request) -> Response:
            body = await request.json()
            self.seen.append(body)
            if self.mode == "hang":
                await asyncio.sleep(10)
            if self.mode == "garbage":
                return Response("[1,2", media_type="application/json")
            order = [candidate["uuid"] for candidate in body["candidates"]]
            if self.mode == "reverse":
                order.reverse()
            if self.mode == "drop-first":
                order = order[1:]
            return Response(json.dumps({"order": order}), media_type="application/json")

        return app


@pytest.fixture
def selector_setup(
    make_client: Callable[..., TestClient],
) -> Iterator[tuple[Selector, TestClient]]:
    selector = Selector()
    with ExitStack() as stack:
        url = stack.enter_context(serve_in_thread(selector.app()))
        client = make_client(
            selection={"seed": 1, "external": {"url": f"{url}/rank", "timeout": 0.3}}
        )
        for number, longitude in ((1, -79.95), (2, -75.0), (3, -0.12)):
            client.post(
                "/api/v2/cloudlets", json=registration(number, locations=[[40.4, longitude]])
            )
        yield selector, client


def ranked_names(client: TestClient) -> list[str]:
    response = client.get(
        f"/api/v2/deploy/{APP}/{urlsafe_key(KEY)}", headers={"X-Location": "40.44,-79.94"}
    )
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()]


@pytest.mark.parametrize(
    ("mode", "expected", "outcome"),
    [
        ("reverse", ["edge-3", "edge-2", "edge-1"], "ok"),
        ("drop-first", ["edge-2", "edge-3"], "ok"),
        ("hang", ["edge-1", "edge-2", "edge-3"], "timeout"),
        ("garbage", ["edge-1", "edge-2", "edge-3"], "error"),
    ],
)
def test_external_selector(
    selector_setup: tuple[Selector, TestClient], mode: str, expected: list[str], outcome: str
) -> None:
    selector, client = selector_setup
    selector.mode = mode
    assert ranked_names(client) == expected
    (request,) = selector.seen
    assert [c["name"] for c in request["candidates"]] == ["edge-1", "edge-2", "edge-3"]
    assert request["recipe"]["name"] == "helloworld"
    metrics = client.get("/metrics").text
    assert f'sinfonia_tier1_external_selector_total{{outcome="{outcome}"}} 1.0' in metrics
