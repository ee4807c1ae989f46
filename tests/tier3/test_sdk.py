"""The SDK, sync and async, through a daemon served by uvicorn and in-process; its typed errors."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tier3.sdk
from common.geo import GeoLocation
from common.problem import Problem
from tests.harness.processes import free_port, wait_until
from tests.tier3.conftest import Standins
from tests.tier3.standins import serve_in_thread
from tier3.daemon.app import create_app
from tier3.sdk import (
    AsyncClient,
    AsyncInProcessClient,
    Client,
    DaemonUnavailableError,
    DeploymentNotFoundError,
    InProcessClient,
    NoEligibleCloudletError,
    RecipeNotFoundError,
    RequestValidationFailedError,
    Tier1UnreachableError,
    parse_app,
)
from tier3.settings import Tier3Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_all_is_sorted_and_complete() -> None:
    names = tier3.sdk.__all__
    assert names == sorted(names, key=lambda name: (not name.isupper(), name))
    for name in names:
        assert hasattr(tier3.sdk, name), name
    public = {
        name
        for name, value in vars(tier3.sdk).items()
        if not name.startswith("_") and not isinstance(value, type(tier3.sdk))
    }
    assert public <= set(names), public - set(names)


@pytest.fixture
def daemon_url(settings: Tier3Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings)) as url:
        yield url


def test_sync_client_deploys_waits_and_releases(
    daemon_url: str, standins: Standins, app_id: uuid.UUID
) -> None:
    with Client(daemon_url) as client:
        backend = client.deploy_backend(standins.tier1.url, app_id, results=1)
        assert backend.app == app_id
        assert backend.generation == 1
        assert backend.services[0].port == 8080
        assert client.list_backends() == [backend]
        assert client.get_backend(str(app_id)) == backend

        standins.tier1.config.tier2_urls = [standins.cloudlets[2].url]
        told: list[int] = []
        with Client(daemon_url) as watcher:
            waiter = threading.Thread(
                target=lambda: told.append(
                    watcher.wait_for_backend(app_id, after=1, wait_timeout=20).generation
                )
            )
            waiter.start()
            moved = client.deploy_backend(None, app_id, results=1)
            waiter.join(timeout=30)
        assert moved.generation == 2
        assert moved.deployment.cloudlet == standins.cloudlets[2].config.cloudlet
        assert told == [2]

        client.release_backend(app_id)
        with pytest.raises(DeploymentNotFoundError):
            client.get_backend(app_id)
        with pytest.raises(DeploymentNotFoundError):
            client.release_backend(app_id)
        assert client.list_cloudlets() == []


async def test_async_client_raises_what_the_app_can_act_on(
    daemon_url: str, standins: Standins, app_id: uuid.UUID
) -> None:
    async with AsyncClient(daemon_url) as client:
        standins.tier1.config.tier2_urls = []
        with pytest.raises(NoEligibleCloudletError) as no_cloudlet:
            await client.deploy_backend(standins.tier1.url, app_id)
        assert no_cloudlet.value.reasons == {"stand-in": ["no ST-2 configured"]}

        dead = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(Tier1UnreachableError, match="cannot connect"):
            await client.deploy_backend(dead, app_id)

        with pytest.raises(RequestValidationFailedError):
            await client.deploy_backend(standins.tier1.url, app_id, results=9)

        standins.reset()
        backend = await client.deploy_backend(standins.tier1.url, app_id, strategy="random")
        assert backend.strategy == "random"
        assert [b.app for b in await client.list_backends()] == [app_id]
        assert (await client.wait_for_backend(app_id, after=0)).generation == 1
        await client.release_backend(app_id)
        assert await client.list_backends() == []


def test_no_daemon_is_a_clear_error(tmp_path: Path) -> None:
    with (
        Client(f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(DaemonUnavailableError, match="sinfonia-tier3 serve"),
    ):
        client.list_backends()


def test_in_process_client_needs_no_daemon(
    settings: Tier3Settings, standins: Standins, app_id: uuid.UUID
) -> None:
    with InProcessClient(settings) as client:
        backend = client.deploy_backend(None, app_id)
        assert client.list_backends() == [backend]
        assert client.get_backend(app_id) == backend
        assert client.wait_for_backend(app_id, after=0).generation == 1
        assert client.list_cloudlets() == []
        config_file = backend.tunnel.config_file
        assert config_file is not None
        assert Path(config_file).exists()
    # Leaving the block released the backend everywhere.
    assert not Path(config_file).exists()
    assert [r["method"] for r in standins.tier1.recorder.entries] == ["POST", "DELETE"]


async def test_async_in_process_client(
    settings: Tier3Settings, standins: Standins, app_id: uuid.UUID
) -> None:
    async with AsyncInProcessClient(settings) as client:
        backend = await client.deploy_backend(standins.tier1.url, app_id, results=2)
        assert backend.candidates == 2
        assert await client.list_backends() == [backend]
        assert (await client.wait_for_backend(app_id, after=0)).generation == 1
        await client.release_backend(app_id)
        with pytest.raises(DeploymentNotFoundError):
            await client.get_backend(app_id)
        assert await client.list_cloudlets() == []
        standins.tier1.config.problem = Problem(
            type="urn:sinfonia:problem:recipe-not-found", title="No recipe", status=404
        )
        with pytest.raises(RecipeNotFoundError):
            await client.deploy_backend(None, app_id)


def test_helloworld_alias() -> None:
    assert parse_app("helloworld") == uuid.UUID("00000000-0000-0000-0000-000000000000")
    assert parse_app(" HelloWorld ") == uuid.UUID(int=0)
    with pytest.raises(ValueError, match="not an app UUID"):
        parse_app("hello")


def test_serve_on_a_unix_socket(tmp_path: Path, standins: Standins, app_id: uuid.UUID) -> None:
    """`sinfonia-tier3 serve --unix-socket`: mode 0600, answers the SDK, removed on SIGTERM."""
    socket_path = tmp_path / "run" / "tier3.sock"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tier3.cli", "serve",
            "--unix-socket", str(socket_path),
            "--tier1-url", standins.tier1.url,
            "--tunnel-mode", "config-only",
            "--log-level", "warning",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: socket_path.exists(), timeout=20, what="the daemon's socket")
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
        with Client(uds=socket_path) as client:
            backend = client.deploy_backend(None, app_id)
            assert backend.tunnel.mode == "config-only"
            key_file = tmp_path / "cache" / "sinfonia" / "keys" / f"{app_id}.key"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert not socket_path.exists()
    # Stopping the daemon released what it held.
    assert [r["method"] for r in standins.tier1.recorder.entries] == ["POST", "DELETE"]


def test_missing_daemon_socket_is_a_clear_error(tmp_path: Path) -> None:
    with (
        Client(uds=tmp_path / "tier3.sock") as client,
        pytest.raises(DaemonUnavailableError, match="no Tier-3 daemon socket"),
    ):
        client.list_backends()


def test_in_process_client_asks_its_location_provider_at_each_deploy(
    settings: Tier3Settings, standins: Standins, app_id: uuid.UUID
) -> None:
    class Moving:
        def __init__(self) -> None:
            self.calls = 0

        def get_location(self) -> GeoLocation | None:
            self.calls += 1
            return GeoLocation(latitude=40.0 + self.calls, longitude=-79.9)

    with InProcessClient(settings, location=Moving()) as client:
        client.deploy_backend(None, app_id, results=1)
        client.deploy_backend(None, app_id, results=1)
    latitudes = [
        r["body"]["device"]["location"]["latitude"]
        for r in standins.tier1.recorder.matching("POST")
    ]
    assert latitudes == [41.0, 42.0]
