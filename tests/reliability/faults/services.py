"""The real services as processes for fault tests: start, probe, kill, and restart them."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness.processes import ManagedProcess, start_process, stop_process, wait_until

BIN = Path(sys.executable).parent
PITTSBURGH = (40.44, -79.94)


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=5, trust_env=False, **kwargs)


def ready(url: str) -> bool:
    return get(f"{url}/readyz").status_code == 200


@dataclass
class Services:
    """Processes a test started; every one still running is stopped (SIGTERM, wait) at the end."""

    workdir: Path
    running: list[ManagedProcess] = field(default_factory=list)

    def tier1(
        self, port: int, env: Mapping[str, str] | None = None, name: str = "tier1"
    ) -> ManagedProcess:
        argv = [str(BIN / "sinfonia-tier1"), "serve", "--port", str(port), "--log-level", "info"]
        process = start_process(name, argv, self.workdir / "logs", env=dict(env or {}))
        self.running.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: ready(url), timeout=30, what=f"{name} ready", processes=[process])
        return process

    def tier2(
        self, name: str, config: dict[str, Any], *, wait_ready: bool = True
    ) -> ManagedProcess:
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        argv = [str(BIN / "sinfonia-tier2"), "serve", "--config", str(path)]
        process = start_process(name, argv, self.workdir / "logs")
        self.running.append(process)
        if wait_ready:
            url = f"http://127.0.0.1:{config['port']}"
            wait_until(lambda: ready(url), timeout=60, what=f"{name} ready", processes=[process])
        return process

    def kill(self, process: ManagedProcess) -> None:
        """SIGKILL: no shutdown, no deregistration; reaped at once."""
        process.popen.kill()
        process.popen.wait(timeout=10)
        self.running.remove(process)

    def stop(self, process: ManagedProcess) -> None:
        stop_process(process)
        self.running.remove(process)

    def close(self) -> None:
        for process in reversed(self.running):
            stop_process(process)
        self.running.clear()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    started = Services(tmp_path)
    try:
        yield started
    finally:
        started.close()


def tier2_config(
    tmp_path: Path, name: str, port: int, tier1_url: str, **overrides: Any
) -> dict[str, Any]:
    """An ST-2 with the local driver that registers with `tier1_url` every second."""
    config: dict[str, Any] = {
        "port": port,
        "state_dir": str(tmp_path / f"{name}-state"),
        "cloudlet": {"name": name, "locations": [list(PITTSBURGH)]},
        "tier1": [{"url": tier1_url, "keepalive_interval": 1.0}],
        "registration": {"backoff_initial": 0.1, "backoff_max": 1.0, "request_timeout": 2.0},
        "metrics": {"interval": 0.5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config
