"""ST-1 as operators run it: the real `sinfonia-tier1` process, and replicas sharing Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.harness.processes import free_port, http_get, start_process, stop_process, wait_until
from tests.harness.redis_server import RedisServer
from tests.tier1.conftest import write_recipes
from tests.tier1.registration_bodies import registration

SCRIPT = str(Path(sys.executable).with_name("sinfonia-tier1"))


@pytest.mark.redis
def test_the_console_script_serves_with_redis_recipes_and_static_cloudlets(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    recipes = write_recipes(tmp_path / "recipes")
    static = tmp_path / "cloudlets.yaml"
    static.write_text("endpoint: http://127.0.0.1:9/api/v1/deploy\nname: static-edge\n")
    port = free_port()
    argv = [
        SCRIPT, "serve", "--port", str(port), "--log-format", "json",
        "--table", redis_server.url, "--recipes", str(recipes),
        "--static-cloudlets", str(static),
    ]  # fmt: skip
    process = start_process(
        "tier1",
        argv,
        tmp_path / "logs",
        env={"SINFONIA_TIER1_TABLE__PREFIX": f"t{uuid.uuid4().hex}:"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: http_get(f"{base}/readyz")[0] == 200,
            timeout=30,
            what="ST-1 ready",
            processes=[process],
        )
        status, body = http_get(f"{base}/api/v1/cloudlets/")
        assert status == 200
        assert [row["name"] for row in json.loads(body)] == ["static-edge"]
    finally:
        stop_process(process)
    lines = [line for line in process.log_path.read_text().splitlines() if line.startswith("{")]
    assert any(json.loads(line)["message"].startswith("loaded 1 static") for line in lines)


def test_a_typo_in_the_config_file_stops_the_process_at_start(tmp_path: Path) -> None:
    config = tmp_path / "tier1.yaml"
    config.write_text("table:\n  ulr: memory://\n")
    result = subprocess.run(
        [SCRIPT, "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ulr" in result.stderr


@pytest.mark.redis
def test_two_replicas_share_one_table(
    make_client: Callable[..., TestClient], redis_server: RedisServer
) -> None:
    table = {"url": redis_server.url, "prefix": f"replicas-{uuid.uuid4().hex}:"}
    first = make_client(table=table)
    second = make_client(table=table)
    credential = first.post("/api/v2/cloudlets", json=registration(1)).json()["credential"]
    keepalive = second.put(
        f"/api/v2/cloudlets/{uuid.UUID(int=1)}/keepalive",
        json={"metrics": {"cpu_utilization": 0.3}},
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert keepalive.status_code == 200, keepalive.text
    rows = first.get("/api/v2/cloudlets").json()["items"]
    assert [row["metrics"]["cpu_utilization"] for row in rows] == [0.3]
    assert second.get("/readyz").status_code == 200
