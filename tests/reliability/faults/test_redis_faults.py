"""ST-1 on Redis: a replica goes down behind the load balancer, Redis itself restarts.

Real redis-server, real ST-1 replicas and a real ST-2 as processes; the load
balancer is a TCP forwarder the test points at one replica, then the other
(as a health-checking balancer would).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.keys import urlsafe_key
from tests.harness.netns import wireguard_keypair
from tests.harness.processes import (
    ManagedProcess,
    free_port,
    free_ports,
    start_process,
    stop_process,
    wait_until,
)
from tests.harness.redis_server import RedisServer, _pong
from tests.reliability.faults.services import Services, get, tier2_config
from tests.reliability.support import assert_problem, eventually
from tests.tier2.conftest import LOCAL_APP, local_recipe, write_recipes
from tests.tier2.tcp_proxy import TcpProxy
from tier2.identity import load_identity

pytestmark = pytest.mark.redis


class Balancer(TcpProxy):
    """A load balancer in front of ST-1 replicas: one live target, switched on failure."""

    def switch_to(self, target: tuple[str, int]) -> None:
        self.cut()
        self._target = target
        self.restore()


@contextmanager
def balancer(target: tuple[str, int]) -> Iterator[Balancer]:
    proxy = Balancer(target)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.cut()
        proxy.join()


def _post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, timeout=30, trust_env=False, **kwargs)


def _keepalives(st2: str) -> float:
    text = get(f"{st2}/metrics").text
    for line in text.splitlines():
        if line.startswith('sinfonia_tier2_keepalives_total{kind="keepalive",result="ok"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_second_replica_serves_while_the_first_is_down(
    services: Services, tmp_path: Path, redis_server: RedisServer
) -> None:
    recipes = write_recipes(tmp_path / "recipes", local_recipe())
    first_port, second_port, st2_port = free_ports(3)
    env = {
        "SINFONIA_TIER1_TABLE__URL": redis_server.url,
        "SINFONIA_TIER1_TABLE__PREFIX": f"replicas-{uuid.uuid4().hex}:",
        "SINFONIA_TIER1_RECIPES__DIRECTORY": str(recipes),
    }
    first = services.tier1(first_port, env, name="tier1-first")
    services.tier1(second_port, env, name="tier1-second")
    with balancer(("127.0.0.1", first_port)) as lb:
        st1 = f"http://127.0.0.1:{lb.port}"
        st2 = f"http://127.0.0.1:{st2_port}"
        services.tier2("edge", tier2_config(tmp_path, "edge", st2_port, st1))
        cloudlet = load_identity(tmp_path / "edge-state").uuid
        row = f"{st1}/api/v2/cloudlets/{cloudlet}"
        assert eventually(lambda: get(row).status_code == 200, seconds=15)
        _, key = wireguard_keypair()
        body = {"app": str(LOCAL_APP), "client_public_key": key}
        deployed = _post(f"{st1}/api/v2/deploy", json=body)
        assert deployed.status_code == 200, deployed.text
        name = deployed.json()["deployments"][0]["name"]

        services.kill(first)
        lb.switch_to(("127.0.0.1", second_port))
        switched = time.monotonic()
        before = _keepalives(st2)
        # For longer than the row's TTL (3 s), the row never goes missing.
        while time.monotonic() - switched < 4.5:
            assert get(row).status_code == 200
            time.sleep(0.2)
        assert _keepalives(st2) > before  # the same credential works on the other replica
        renewed = _post(f"{st1}/api/v2/deploy", json=body)
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["deployments"][0]["name"] == name
        # The deployment ledger is in Redis too: the second replica releases what the first made.
        path = f"{st1}/api/v2/deploy/{LOCAL_APP}/{urlsafe_key(key)}"
        assert httpx.delete(path, timeout=30, trust_env=False).status_code == 204
        assert get(f"{st2}/api/v2/cloudlet").json()["deployments"] == {}


def _start_redis(port: int, workdir: Path) -> ManagedProcess:
    process = start_process(
        "redis-server",
        [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ],
        workdir / "logs",
    )  # fmt: skip
    wait_until(lambda: _pong(port), timeout=30, what="redis PING", processes=[process])
    return process


def test_tier1_answers_503_while_redis_is_down_and_recovers_by_itself(
    services: Services, tmp_path: Path
) -> None:
    redis_port, st1_port, st2_port = free_port(), *free_ports(2)
    redis = _start_redis(redis_port, tmp_path / "redis")
    try:
        recipes = write_recipes(tmp_path / "recipes", local_recipe())
        env = {
            "SINFONIA_TIER1_TABLE__URL": f"redis://127.0.0.1:{redis_port}/0",
            "SINFONIA_TIER1_TABLE__SOCKET_TIMEOUT": "1.0",
            "SINFONIA_TIER1_RECIPES__DIRECTORY": str(recipes),
        }
        services.tier1(st1_port, env)
        st1 = f"http://127.0.0.1:{st1_port}"
        services.tier2("edge", tier2_config(tmp_path, "edge", st2_port, st1))
        cloudlet = load_identity(tmp_path / "edge-state").uuid
        row = f"{st1}/api/v2/cloudlets/{cloudlet}"
        assert eventually(lambda: get(row).status_code == 200, seconds=15)

        stop_process(redis)
        _, key = wireguard_keypair()
        body = {"app": str(LOCAL_APP), "client_public_key": key}
        calls: list[Callable[[], httpx.Response]] = [
            lambda: get(f"{st1}/api/v2/cloudlets"),
            lambda: get(row),
            lambda: _post(f"{st1}/api/v2/deploy", json=body),
            lambda: _post(f"{st1}/api/v2/cloudlets", json={"cloudlet": {}}),
            lambda: get(f"{st1}/readyz"),
        ]
        for call in calls[:3]:
            started = time.monotonic()
            problem = assert_problem(call(), 503, "unavailable")
            assert problem["retryable"] is True
            assert "CloudletTable store" in problem["detail"]
            assert time.monotonic() - started < 5.0
        assert calls[3]().status_code == 422  # bad input is still refused on its merits
        assert_problem(calls[4](), 503, "unavailable")
        assert get(f"{st1}/healthz").status_code == 200

        redis = _start_redis(redis_port, tmp_path / "redis")  # empty: no persistence
        recovered = eventually(lambda: get(f"{st1}/readyz").status_code == 200, seconds=15)
        assert recovered is not None
        # The cloudlet's next keepalive finds no row and registers again; deploys work.
        assert eventually(lambda: get(row).status_code == 200, seconds=15)
        assert _post(f"{st1}/api/v2/deploy", json=body).status_code == 200
    finally:
        stop_process(redis)
