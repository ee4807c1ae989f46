"""The daemon's HTTP API against stand-in ST-1 and ST-2s: deploy, list, release, problems."""

from __future__ import annotations

import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import AnyHttpUrl

from common.keys import urlsafe_key
from common.problem import PROBLEM_MEDIA_TYPE, Problem
from tests.harness.processes import free_port
from tests.tier3.conftest import Standins
from tier3.daemon.app import create_app
from tier3.schema import TunnelMode
from tier3.settings import Tier1Settings, Tier3Settings, TunnelSettings

PROBLEM = "urn:sinfonia:problem:"


@pytest.fixture
def daemon(settings: Tier3Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://127.0.0.1:5002") as client:
        yield client


def _deploy(daemon: TestClient, app_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    response = daemon.post("/api/v2/backends", json={"app": str(app_id), **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + slug
    return body


def _wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_deploy_asks_tier1_with_the_app_key_and_device_context(
    daemon: TestClient, standins: Standins, app_id: uuid.UUID, settings: Tier3Settings
) -> None:
    backend = _deploy(daemon, app_id)

    key_file = settings.cache_dir / "keys" / f"{app_id}.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    (request,) = standins.tier1.recorder.matching("POST", "/api/v2/deploy")
    body = request["body"]
    assert body["app"] == str(app_id)
    assert body["results"] == 3
    assert body["device"]["hardware"]["cpu_cores"] >= 1
    assert body["device"]["hardware"]["memory_bytes"] > 0
    public_key = body["client_public_key"]

    first = standins.cloudlets[0]
    assert backend["generation"] == 1
    assert backend["source"] == "tier1"
    assert backend["strategy"] == "first"
    assert backend["candidates"] == 3
    assert backend["deployment"]["cloudlet"] == str(first.config.cloudlet)
    assert backend["deployment"]["client_public_key"] == public_key
    assert backend["deployment"]["services"] == [
        {"name": "web", "host": "10.251.0.17", "port": 8080, "protocol": "tcp"}
    ]
    assert backend["tunnel"]["mode"] == "config-only"
    assert "CAP_NET_ADMIN" not in backend["tunnel"]["message"]
    assert "config-only" in backend["tunnel"]["message"]


def test_config_only_tunnel_writes_wg_quick_and_resolv_conf(
    daemon: TestClient, app_id: uuid.UUID, settings: Tier3Settings
) -> None:
    backend = _deploy(daemon, app_id)
    config_file = Path(backend["tunnel"]["config_file"])
    resolv_conf = Path(backend["tunnel"]["resolv_conf"])
    assert config_file.parent == settings.tunnel.config_dir
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    private_key = (settings.cache_dir / "keys" / f"{app_id}.key").read_text().strip()
    assert config_file.read_text() == (
        "[Interface]\n"
        f"PrivateKey = {private_key}\n"
        "Address = 10.251.0.18/32\n"
        "DNS = 10.251.0.17, svc.example\n"
        "\n"
        "[Peer]\n"
        f"PublicKey = {backend['deployment']['tunnel']['public_key']}\n"
        "AllowedIPs = 10.251.0.17/32\n"
        "Endpoint = 192.0.2.1:51820\n"
        "PersistentKeepalive = 25\n"
    )
    assert resolv_conf.read_text() == (
        "nameserver 10.251.0.17\nsearch svc.example\noptions ndots:5\n"
    )


def test_unchosen_deployments_are_released_on_their_cloudlets(
    daemon: TestClient, standins: Standins, app_id: uuid.UUID
) -> None:
    backend = _deploy(daemon, app_id)
    key = urlsafe_key(backend["deployment"]["client_public_key"])
    first, *others = standins.cloudlets
    for cloudlet in others:
        _wait_for(lambda c=cloudlet: bool(c.recorder.matching("DELETE")))
        (delete,) = cloudlet.recorder.matching("DELETE")
        assert delete["path"] == f"/api/v2/deployments/{app_id}/{key}"
    assert first.recorder.matching("DELETE") == []


def test_list_get_and_release(daemon: TestClient, standins: Standins, app_id: uuid.UUID) -> None:
    backend = _deploy(daemon, app_id)
    other = _deploy(daemon, uuid.uuid4())

    listed = daemon.get("/api/v2/backends").json()
    assert {b["app"] for b in listed} == {str(app_id), other["app"]}
    assert daemon.get(f"/api/v2/backends/{app_id}").json() == backend

    response = daemon.delete(f"/api/v2/backends/{app_id}")
    assert response.status_code == 204
    assert not Path(backend["tunnel"]["config_file"]).exists()
    key = urlsafe_key(backend["deployment"]["client_public_key"])
    releases = standins.tier1.recorder.matching("DELETE")
    assert [r["path"] for r in releases] == [f"/api/v2/deploy/{app_id}/{key}"]
    _problem(daemon.get(f"/api/v2/backends/{app_id}"), 404, "deployment-not-found")
    _problem(daemon.delete(f"/api/v2/backends/{app_id}"), 404, "deployment-not-found")
    assert [b["app"] for b in daemon.get("/api/v2/backends").json()] == [other["app"]]


def test_repeat_deploy_renews_without_a_new_tunnel(
    daemon: TestClient, standins: Standins, app_id: uuid.UUID
) -> None:
    first = _deploy(daemon, app_id, results=1)
    again = _deploy(daemon, app_id, results=1)
    assert again["generation"] == 1
    assert again["tunnel"] == first["tunnel"]
    assert len(standins.tier1.recorder.matching("POST")) == 2
    assert standins.cloudlets[0].recorder.matching("DELETE") == []


def test_handoff_brings_the_new_backend_up_then_releases_the_old(
    daemon: TestClient, standins: Standins, app_id: uuid.UUID
) -> None:
    first = _deploy(daemon, app_id, results=1)
    standins.tier1.config.tier2_urls = [standins.cloudlets[1].url]

    moved = _deploy(daemon, app_id, results=1)

    assert moved["generation"] == 2
    assert moved["deployment"]["cloudlet"] == str(standins.cloudlets[1].config.cloudlet)
    assert Path(moved["tunnel"]["config_file"]).exists()
    assert not Path(first["tunnel"]["config_file"]).exists()
    old = standins.cloudlets[0]
    _wait_for(lambda: bool(old.recorder.matching("DELETE")))
    waited = daemon.get(f"/api/v2/backends/{app_id}", params={"after": 1, "wait": 1})
    assert waited.json()["generation"] == 2


def test_long_poll_returns_the_same_backend_when_nothing_changes(
    daemon: TestClient, app_id: uuid.UUID
) -> None:
    _deploy(daemon, app_id)
    started = time.monotonic()
    response = daemon.get(f"/api/v2/backends/{app_id}", params={"after": 1, "wait": 0.3})
    assert response.json()["generation"] == 1
    assert 0.25 <= time.monotonic() - started < 5


def test_tier1_problem_types_reach_the_app(
    daemon: TestClient, standins: Standins, app_id: uuid.UUID
) -> None:
    standins.tier1.config.tier2_urls = []
    body = _problem(
        daemon.post("/api/v2/backends", json={"app": str(app_id)}), 503, "no-eligible-cloudlet"
    )
    assert body["reasons"] == {"stand-in": ["no ST-2 configured"]}
    assert body["retryable"] is True

    standins.tier1.config.problem = Problem(
        type=PROBLEM + "recipe-not-found", title="No recipe", status=404, detail="unknown app"
    )
    body = _problem(
        daemon.post("/api/v2/backends", json={"app": str(app_id)}), 404, "recipe-not-found"
    )
    assert body["detail"] == "unknown app"

    standins.tier1.config.problem = Problem(
        type=PROBLEM + "unauthorized", title="Missing credential", status=401
    )
    body = _problem(
        daemon.post("/api/v2/backends", json={"app": str(app_id)}), 502, "upstream-rejected"
    )
    assert body["upstream"]["type"] == PROBLEM + "unauthorized"
    assert daemon.get("/api/v2/backends").json() == []


def test_unreachable_tier1_is_a_clear_problem(settings: Tier3Settings, app_id: uuid.UUID) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    tier1 = Tier1Settings(url=AnyHttpUrl(dead), connect_attempts=2)
    settings = settings.model_copy(update={"tier1": tier1})
    with TestClient(create_app(settings), base_url="http://localhost") as daemon:
        response = daemon.post("/api/v2/backends", json={"app": str(app_id)})
    body = _problem(response, 502, "tier1-unreachable")
    assert dead in body["detail"]
    assert "after 2 attempt(s)" in body["detail"]


def test_v1_tier1(daemon: TestClient, standins: Standins, app_id: uuid.UUID) -> None:
    backend = _deploy(daemon, app_id, tier1_api="v1", results=2)
    key = urlsafe_key(backend["deployment"]["client_public_key"])
    (request,) = standins.tier1.recorder.matching("POST")
    assert request["path"] == f"/api/v1/deploy/{app_id}/{key}"
    assert request["query"] == "results=2"
    assert backend["deployment"]["tunnel"]["endpoint"] == "192.0.2.1:51820"
    assert backend["candidates"] == 2
    assert daemon.delete(f"/api/v2/backends/{app_id}").status_code == 204
    assert [r["path"] for r in standins.tier1.recorder.matching("DELETE")] == [
        f"/api/v1/deploy/{app_id}/{key}"
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"app": "not-a-uuid"},
        {"app": str(uuid.uuid4()), "results": 7},
        {"app": str(uuid.uuid4()), "strategy": "fastest"},
        {"app": str(uuid.uuid4()), "tier1_url": "ftp://example.org"},
    ],
)
def test_bad_input_is_a_422_problem(daemon: TestClient, body: dict[str, Any]) -> None:
    body = _problem(daemon.post("/api/v2/backends", json=body), 422, "validation-failed")
    assert body["errors"]


def test_without_a_tier1_url_the_request_is_invalid(
    settings: Tier3Settings, app_id: uuid.UUID
) -> None:
    settings = settings.model_copy(update={"tier1": Tier1Settings()})
    with TestClient(create_app(settings), base_url="http://localhost") as daemon:
        response = daemon.post("/api/v2/backends", json={"app": str(app_id)})
        _problem(response, 400, "invalid-request")
        response = daemon.post("/api/v2/backends", json={"app": str(app_id), "discover": True})
        body = _problem(response, 400, "invalid-request")
    assert "Zeroconf" in body["detail"]


def test_only_loopback_host_names_are_answered(settings: Tier3Settings) -> None:
    with TestClient(create_app(settings), base_url="http://attacker.example") as daemon:
        body = _problem(daemon.get("/api/v2/backends"), 400, "invalid-request")
        assert "localhost" in body["detail"]
        for host in ("localhost:5002", "127.0.0.1", "[::1]:5002", "app.localhost"):
            assert daemon.get("/api/v2/backends", headers={"host": host}).status_code == 200


def test_metrics_count_deploys(daemon: TestClient, standins: Standins, app_id: uuid.UUID) -> None:
    _deploy(daemon, app_id)
    standins.tier1.config.tier2_urls = []
    daemon.post("/api/v2/backends", json={"app": str(uuid.uuid4())})
    text = daemon.get("/metrics").text
    assert 'sinfonia_tier3_deploys_total{outcome="ok"} 1.0' in text
    assert 'sinfonia_tier3_deploys_total{outcome="no-eligible-cloudlet"} 1.0' in text
    assert "sinfonia_tier3_active_backends 1.0" in text


def test_a_tunnel_that_cannot_come_up_is_a_problem_and_frees_every_deployment(
    settings: Tier3Settings, standins: Standins, app_id: uuid.UUID
) -> None:
    tunnel = TunnelSettings(mode=TunnelMode.USERSPACE, wireguard_go="no-such-wireguard-go")
    settings = settings.model_copy(update={"tunnel": tunnel})
    with TestClient(create_app(settings), base_url="http://localhost") as daemon:
        response = daemon.post("/api/v2/backends", json={"app": str(app_id)})
        body = _problem(response, 500, "tunnel-failed")
        assert body["detail"].count("no-such-wireguard-go") == 3
        assert daemon.get("/api/v2/backends").json() == []
        for cloudlet in standins.cloudlets:
            _wait_for(lambda c=cloudlet: bool(c.recorder.matching("DELETE")))
