"""Slow and hanging peers cannot hold ST-1 past its deadlines.

A hanging ST-2 (accepts, never answers) and a hanging external selector are
covered in tests/tier1 (test_deploy.py: a hanging cloudlet, the overall
deadline; test_external_selector.py: the `hang` mode). These add the peer
that does answer, a byte at a time: each read comes within the socket
timeout, so only a deadline on the whole call stops it.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.keys import urlsafe_key
from tests.reliability.conftest import ClientFactory
from tests.reliability.support import assert_problem
from tests.support.servers import serve_in_thread
from tests.tier1.conftest import APP, KEY
from tests.tier1.registration_bodies import registration
from tests.tier1.standins import StandInCloudlet

TRICKLE_INTERVAL = 0.1
TRICKLE_LIMIT = 300
"""At most 30 s of trickling per connection, whatever happens (a bounded loop)."""


@contextmanager
def trickling_server() -> Iterator[str]:
    """An HTTP peer that sends its headers, then its body one byte every 0.1 s."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            try:
                connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n"
                )
                for _ in range(TRICKLE_LIMIT):
                    if stop.is_set():
                        return
                    connection.sendall(b" ")
                    time.sleep(TRICKLE_INTERVAL)
            except OSError:
                return  # the client gave up: good

    def accept() -> None:
        workers = []
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            worker = threading.Thread(target=trickle, args=(connection,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(timeout=5)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(timeout=10)
        listener.close()


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_a_trickling_cloudlet_is_cut_at_its_timeout_and_the_next_one_serves(
    tier1_client: ClientFactory, stack: ExitStack
) -> None:
    client = tier1_client(deploy={"cloudlet_timeout": 0.5, "deadline": 20.0})
    slow = stack.enter_context(trickling_server())
    good = StandInCloudlet(uuid.UUID(int=2))
    good_url = stack.enter_context(serve_in_thread(good.app()))
    for number, url, east in ((1, slow, 0.0), (2, good_url, 1.0)):
        body = registration(number, endpoint=url, locations=[[40.44, -79.94 + east]])
        assert client.post("/api/v2/cloudlets", json=body).status_code == 201
    response, seconds = _timed(
        lambda: client.post(
            f"/api/v1/deploy/{APP}/{urlsafe_key(KEY)}", headers={"X-Location": "40.44,-79.94"}
        )
    )
    assert response.status_code == 200, response.text
    assert [item["UUID"] for item in response.json()] == [APP]
    assert len(good.deploys) == 1
    # Well before the 20 s deadline: the slow one was cut at 0.5 s (plus a margin for a busy CI).
    assert seconds < 5.0, seconds


def test_a_trickling_cloudlet_alone_ends_in_a_504_within_its_timeout(
    tier1_client: ClientFactory, stack: ExitStack
) -> None:
    client = tier1_client(deploy={"cloudlet_timeout": 0.5, "deadline": 20.0})
    slow = stack.enter_context(trickling_server())
    assert client.post("/api/v2/cloudlets", json=registration(1, endpoint=slow)).status_code == 201
    response, seconds = _timed(
        lambda: client.post("/api/v2/deploy", json={"app": APP, "client_public_key": KEY})
    )
    assert_problem(response, 504, "upstream-timeout")
    assert seconds < 5.0, seconds


def test_a_trickling_external_selector_falls_back_within_its_timeout(
    tier1_client: ClientFactory, stack: ExitStack
) -> None:
    slow = stack.enter_context(trickling_server())
    client: TestClient = tier1_client(selection={"external": {"url": slow, "timeout": 0.3}})
    for number in (1, 2):
        assert client.post("/api/v2/cloudlets", json=registration(number)).status_code == 201
    response, seconds = _timed(lambda: client.get(f"/api/v2/deploy/{APP}/{urlsafe_key(KEY)}"))
    assert response.status_code == 200, response.text
    assert len(response.json()) == 2
    assert seconds < 3.0, seconds
    metrics = client.get("/metrics").text
    assert 'sinfonia_tier1_external_selector_total{outcome="timeout"} 1.0' in metrics


def test_a_trickling_recipe_server_is_a_504_within_its_timeout(
    tier1_client: ClientFactory, stack: ExitStack
) -> None:
    slow = stack.enter_context(trickling_server())
    client = tier1_client(recipes={"directory": None, "url": slow, "fetch_timeout": 0.5})
    response, seconds = _timed(lambda: client.get(f"/api/v2/recipes/{APP}"))
    assert_problem(response, 504, "upstream-timeout")
    assert seconds < 5.0, seconds
