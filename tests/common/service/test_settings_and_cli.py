"""Settings precedence (flag > env > file > default), loud failures, and each tier's CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from common import __version__
from common.service.server import LogFormat
from tier1.cli import cli as tier1_cli
from tier1.settings import Tier1Settings
from tier2.settings import Tier2Settings
from tier3.settings import Tier3Settings


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tier1.yaml"
    path.write_text("port: 7001\nlog_level: debug\nlog_format: json\n")
    return path


def test_defaults_bind_loopback_on_distinct_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SINFONIA_"):
            monkeypatch.delenv(name)
    ports = {Tier1Settings().port, Tier2Settings().port, Tier3Settings().port}
    assert len(ports) == 3
    assert Tier3Settings().host == "127.0.0.1"


def test_precedence_flag_over_env_over_file(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file = Tier1Settings.load(config_file)
    assert (from_file.port, from_file.log_level, from_file.log_format) == (
        7001,
        "debug",
        LogFormat.JSON,
    )
    monkeypatch.setenv("SINFONIA_TIER1_PORT", "7002")
    assert Tier1Settings.load(config_file).port == 7002
    assert Tier1Settings.load(config_file, port=7003).port == 7003
    assert Tier1Settings.load(config_file, port=None).port == 7002


def test_env_prefix_is_per_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINFONIA_TIER2_PORT", "7100")
    assert Tier2Settings().port == 7100
    assert Tier1Settings().port != 7100


def test_unknown_keys_in_a_config_file_fail_loudly(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("prot: 7001\n")
    with pytest.raises(ValidationError, match="prot"):
        Tier1Settings.load(path)


def test_bad_values_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINFONIA_TIER1_PORT", "70000")
    with pytest.raises(ValidationError, match="port"):
        Tier1Settings()


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Tier1Settings.load(tmp_path / "absent.yaml")


def test_cli_version_and_help() -> None:
    runner = CliRunner()
    result = runner.invoke(tier1_cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
    result = runner.invoke(tier1_cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--config" in result.output


def test_cli_rejects_a_typo_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("prot: 7001\n")
    result = CliRunner().invoke(tier1_cli, ["serve", "--config", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ValidationError)


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_console_scripts_are_installed(tier: int) -> None:
    script = Path(sys.executable).with_name(f"sinfonia-tier{tier}")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
