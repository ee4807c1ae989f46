"""The deployment files agree with the code: real promtool checks, compose names real commands."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.requirements import skip_or_fail
from tier1.settings import Tier1Settings
from tier2.settings import Tier2Settings
from tier3.settings import Tier3Settings

ROOT = Path(__file__).resolve().parents[2]


def test_prometheus_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool (Debian package prometheus) is not installed")
    result = subprocess.run(
        [promtool, "check", "config", str(ROOT / "deploy/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@pytest.mark.parametrize(
    ("service", "settings"),
    [("tier1", Tier1Settings), ("tier2", Tier2Settings), ("tier3", Tier3Settings)],
)
def test_compose_runs_each_tier_on_its_default_port(
    compose: dict[str, Any], service: str, settings: type[Tier1Settings]
) -> None:
    command = compose["services"][service]["command"]
    assert command[:2] == [f"sinfonia-{service}", "serve"]
    port = command[command.index("--port") + 1]
    assert int(port) == settings.model_fields["port"].default


def test_the_device_daemon_binds_only_loopback(compose: dict[str, Any]) -> None:
    command = compose["services"]["tier3"]["command"]
    assert command[command.index("--host") + 1] == "127.0.0.1"


def test_compose_builds_from_a_dockerfile_that_exists(compose: dict[str, Any]) -> None:
    for name in ("tier1", "tier2", "tier3"):
        build = compose["services"][name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
