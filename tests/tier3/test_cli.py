"""`sinfonia-tier3` on loopback: config-only files, exit statuses, clear one-line errors."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.harness.processes import free_port
from tests.harness.requirements import skip_or_fail
from tests.tier3.conftest import Standins

REPO_ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def _cli(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "tier3.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        check=False,
    )


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sinfonia-tier3: ")
    return lines[0]


def test_config_only_writes_the_files_and_keeps_the_deployment(
    tmp_path: Path, standins: Standins
) -> None:
    app = str(uuid.uuid4())
    out = tmp_path / "out"
    result = _cli(
        "deploy", standins.tier1.url, app, "--config-only", "--output-dir", str(out),
        cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config_file = next(p for p in out.glob("*.conf") if not p.name.endswith(".resolv.conf"))
    resolv_conf = config_file.with_name(config_file.stem + ".resolv.conf")
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert "PrivateKey = " in config_file.read_text()
    assert "Endpoint = 192.0.2.1:51820" in config_file.read_text()
    assert resolv_conf.read_text().startswith("nameserver 10.251.0.17\n")
    assert f"wrote {config_file}" in result.stderr
    assert "backend cloudlet1-" in result.stderr
    assert result.stdout == ""
    assert standins.tier1.recorder.matching("DELETE") == []  # left for the user's wg-quick


def test_a_missing_program_exits_127_before_deploying(tmp_path: Path, standins: Standins) -> None:
    result = _cli(
        "deploy", standins.tier1.url, "helloworld", "--", "no-such-program-xyz", "--flag",
        cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 127
    assert "no-such-program-xyz: command not found" in _one_clear_line(result)
    assert standins.tier1.recorder.entries == []


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["deploy", "{st1}", "{app}"], 2, "give the program to run after --"),
        (["deploy", "{st1}", "not-a-uuid", "--", "true"], 2, "not an app UUID"),
        (["deploy", "{dead}", "{app}", "--", "true"], 1, "could not be reached"),
        (["deploy", "{st1}", "{app}", "--no-eligible", "--", "true"], 1, "No cloudlet"),
        (["serve", "--host", "0.0.0.0"], 2, "loopback"),
        (["serve", "-z", "no-such-interface0"], 2, "no network interface"),
        (["serve", "-z", "192.0.2.99"], 2, "not an address of any network interface"),
        (["cloudlets"], 2, "--zeroconf-interface"),
    ],
)
def test_errors_are_one_clear_line(
    tmp_path: Path, standins: Standins, args: list[str], code: int, says: str
) -> None:
    if "--no-eligible" in args:
        args.remove("--no-eligible")
        standins.tier1.config.tier2_urls = []
    values = {
        "st1": standins.tier1.url,
        "dead": f"http://127.0.0.1:{free_port()}",
        "app": str(uuid.uuid4()),
    }
    result = _cli(
        *(arg.format(**values) for arg in args),
        cwd=tmp_path,
        env={"XDG_CACHE_HOME": str(tmp_path), "SINFONIA_TIER3_TIER1__CONNECT_ATTEMPTS": "1"},
    )
    assert result.returncode == code, result.stderr
    assert says in _one_clear_line(result)


def test_version() -> None:
    result = _cli("--version", cwd=REPO_ROOT)
    assert result.returncode == 0
    assert result.stdout.startswith("sinfonia ")


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A directory the unprivileged user may write to (pytest's tmp_path is root's only)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        skip_or_fail("running the CLI unprivileged needs root and setpriv (util-linux)")
    path = Path(tempfile.mkdtemp(prefix="sinfonia-tier3-"))
    try:
        os.chown(path, NOBODY, NOBODY)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_without_privileges_the_cli_writes_the_config_and_does_not_run_the_app(
    nobody_dir: Path, standins: Standins
) -> None:
    marker = nobody_dir / "app-ran"
    result = _cli(
        "deploy", standins.tier1.url, str(uuid.uuid4()), "--", "touch", str(marker),
        cwd=nobody_dir,
        env={"XDG_CACHE_HOME": str(nobody_dir / "cache"), "HOME": str(nobody_dir)},
        prefix=("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    line = _one_clear_line(result)
    assert "touch was not run. No tunnel was brought up: this process lacks CAP_NET_ADMIN" in line
    assert "sudo wg-quick up" in line
    assert not marker.exists()
    (config_file,) = [p for p in nobody_dir.glob("*.conf") if not p.name.endswith(".resolv.conf")]
    assert config_file.stat().st_uid == NOBODY
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((nobody_dir / "cache" / "sinfonia" / "keys").stat().st_mode) == 0o700
