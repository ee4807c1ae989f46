"""ST-2 with the real ST-1 (both as processes on loopback): admission, keepalives, deploy, release.

The device's side is this test: it asks ST-1 for a backend, ST-1 picks the
cloudlet from its table and asks ST-2 with the deploy credential ST-2 gave
it at registration; the backend answers; ST-1 releases it on ST-2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from common.deployment import DeployResponse
from common.keys import urlsafe_key
from tests.harness.netns import wireguard_keypair
from tests.harness.processes import (
    ManagedProcess,
    free_ports,
    start_process,
    stop_process,
    wait_until,
)
from tests.tier2.conftest import LOCAL_APP, eventually, local_recipe, write_recipes
from tier2.identity import load_identity

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def _ready(url: str) -> bool:
    return httpx.get(f"{url}/readyz", timeout=2, trust_env=False).status_code == 200


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for process in reversed(started):
        stop_process(process)


def test_st1_admits_st2_deploys_through_it_and_releases(
    tmp_path: Path, processes: list[ManagedProcess]
) -> None:
    recipes = write_recipes(tmp_path / "recipes", local_recipe())
    st1_port, st2_port = free_ports(2)
    st1 = f"http://127.0.0.1:{st1_port}"
    st2 = f"http://127.0.0.1:{st2_port}"
    processes.append(
        start_process(
            "tier1",
            [
                str(BIN / "sinfonia-tier1"),
                "serve",
                "--port",
                str(st1_port),
                "--recipes",
                str(recipes),
            ],
            tmp_path / "logs",
            env=NO_CAPACITY_FILTER,
        )
    )
    wait_until(lambda: _ready(st1), timeout=30, what="ST-1 ready", processes=processes)

    state = tmp_path / "state"
    config: dict[str, Any] = {
        "port": st2_port,
        "state_dir": str(state),
        "cloudlet": {"name": "e2e-cloudlet", "locations": [[40.44, -79.94]]},
        "tier1": [{"url": st1, "keepalive_interval": 1.0}],
        "metrics": {"interval": 0.5},
    }
    config_path = tmp_path / "tier2.yaml"
    config_path.write_text(yaml.safe_dump(config))
    processes.append(
        start_process(
            "tier2",
            [str(BIN / "sinfonia-tier2"), "serve", "--config", str(config_path)],
            tmp_path / "logs",
        )
    )
    identity = load_identity(state)
    wait_until(lambda: _ready(st2), timeout=30, what="ST-2 ready", processes=processes)

    def row() -> dict[str, Any] | None:
        response = httpx.get(f"{st1}/api/v2/cloudlets/{identity.uuid}", timeout=2, trust_env=False)
        return response.json() if response.status_code == 200 else None

    assert eventually(lambda: row() is not None, seconds=15), processes[1].log_tail()
    admitted = row()
    assert admitted is not None
    assert admitted["static"]["public_key"] == identity.public_key
    assert admitted["static"]["endpoint"].rstrip("/") == st2
    # Keepalives carry the load; ST-1's row shows it.
    assert eventually(
        lambda: (row() or {}).get("metrics", {}).get("memory_utilization") is not None, seconds=10
    )

    _, key = wireguard_keypair()
    answer = httpx.post(
        f"{st1}/api/v2/deploy",
        json={"app": str(LOCAL_APP), "client_public_key": key},
        timeout=30,
        trust_env=False,
    )
    assert answer.status_code == 200, answer.text
    [deployment] = DeployResponse.model_validate(answer.json()).deployments
    assert deployment.cloudlet == identity.uuid
    service = deployment.services[0]
    backend = httpx.get(f"http://{service.host}:{service.port}/", timeout=5, trust_env=False)
    assert backend.text == f"hello from {deployment.name}\n"
    assert eventually(
        lambda: (row() or {}).get("metrics", {}).get("backends") == [str(LOCAL_APP)], seconds=10
    )

    released = httpx.delete(
        f"{st1}/api/v2/deploy/{LOCAL_APP}/{urlsafe_key(key)}", timeout=30, trust_env=False
    )
    assert released.status_code == 204, released.text
    info = httpx.get(f"{st2}/api/v2/cloudlet", timeout=2, trust_env=False).json()
    assert info["deployments"] == {}

    # A graceful stop deregisters: ST-1 forgets the row at once, not after its TTL.
    stop_process(processes.pop())
    assert row() is None


# This ST-2 reports the host's real CPU load, which a busy test machine can push
# past ST-1's capacity filter (95%); this test is about admission and deploy, not load.
NO_CAPACITY_FILTER = {
    "SINFONIA_TIER1_SELECTION__PIPELINE": json.dumps(
        [
            {"name": name}
            for name in ("client-networks", "fresh", "recipe-requirements", "proximity")
        ]
    )
}


def _start_tier1(port: int, logs: Path, env: dict[str, str] | None = None) -> ManagedProcess:
    return start_process(
        "tier1", [str(BIN / "sinfonia-tier1"), "serve", "--port", str(port)], logs, env=env
    )


def _start_tier2(port: int, tmp_path: Path, tier1: list[dict[str, Any]]) -> ManagedProcess:
    config = {
        "port": port,
        "state_dir": str(tmp_path / "state"),
        "tier1": tier1,
        "registration": {"backoff_initial": 0.1, "backoff_max": 1.0},
    }
    path = tmp_path / "tier2.yaml"
    path.write_text(yaml.safe_dump(config))
    return start_process(
        "tier2", [str(BIN / "sinfonia-tier2"), "serve", "--config", str(path)], tmp_path / "logs"
    )


def _registered(st1: str, cloudlet: object) -> bool:
    url = f"{st1}/api/v2/cloudlets/{cloudlet}"
    return httpx.get(url, timeout=2, trust_env=False).status_code == 200


def test_a_restarted_st1_is_refilled_by_the_next_keepalive(
    tmp_path: Path, processes: list[ManagedProcess]
) -> None:
    st1_port, st2_port = free_ports(2)
    st1 = f"http://127.0.0.1:{st1_port}"
    processes.append(_start_tier1(st1_port, tmp_path / "logs"))
    wait_until(lambda: _ready(st1), timeout=30, what="ST-1 ready", processes=processes)
    processes.append(_start_tier2(st2_port, tmp_path, [{"url": st1, "keepalive_interval": 1.0}]))
    cloudlet = load_identity(tmp_path / "state").uuid
    assert eventually(lambda: _registered(st1, cloudlet), seconds=15)

    stop_process(processes.pop(0))  # ST-1 goes away; its in-memory table with it
    processes.insert(0, _start_tier1(st1_port, tmp_path / "logs"))
    wait_until(lambda: _ready(st1), timeout=30, what="ST-1 ready again", processes=processes)
    assert not _registered(st1, cloudlet)
    # The next keepalive gets a 404 and ST-2 registers again: one interval, plus backoff.
    assert eventually(lambda: _registered(st1, cloudlet), seconds=10)


def test_st1_token_admission_refuses_a_wrong_token(
    tmp_path: Path, processes: list[ManagedProcess]
) -> None:
    st1_port, st2_port = free_ports(2)
    st1 = f"http://127.0.0.1:{st1_port}"
    env = {
        "SINFONIA_TIER1_ADMISSION__POLICY": "token",
        "SINFONIA_TIER1_ADMISSION__TOKEN": "the-operators-token",
    }
    processes.append(_start_tier1(st1_port, tmp_path / "logs", env))
    wait_until(lambda: _ready(st1), timeout=30, what="ST-1 ready", processes=processes)
    processes.append(
        _start_tier2(st2_port, tmp_path, [{"url": st1, "registration_token": "a-guess"}])
    )
    st2 = f"http://127.0.0.1:{st2_port}"
    wait_until(lambda: _ready(st2), timeout=30, what="ST-2 ready", processes=processes)
    cloudlet = load_identity(tmp_path / "state").uuid

    def metrics() -> str:
        return httpx.get(f"{st2}/metrics", timeout=2, trust_env=False).text

    assert eventually(
        lambda: 'sinfonia_tier2_keepalives_total{kind="register",result="refused"}' in metrics()
    )
    assert not _registered(st1, cloudlet)
