"""The README stays true: `make demo` first, its commands parse, its paths and settings exist."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.clis import parse_command

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _commands() -> list[str]:
    """Shell commands in the README's `sh` blocks, continuation lines joined, comments cut."""
    commands: list[str] = []
    for language, body in FENCED.findall(README):
        if language != "sh":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            command = line.split("  #", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def test_the_first_command_is_make_demo() -> None:
    assert _commands()[0] == "make demo"


def test_the_makefile_has_every_target_the_readme_names() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for command in _commands():
        if command.startswith("make "):
            target = command.split()[1]
            assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), target


@pytest.mark.parametrize(
    "command", [c for c in _commands() if c.startswith("sinfonia-")], ids=lambda c: c[:60]
)
def test_each_cli_example_parses(command: str) -> None:
    argv = [arg for arg in shlex.split(command) if arg != "..."]
    if "--" in argv:
        argv = argv[: argv.index("--") + 2]  # the program after -- is the user's
    parse_command(argv)


def test_every_path_the_readme_names_exists() -> None:
    paths = set(re.findall(r"`((?:deploy|tests|tier[123]|common|benchmarks)/[^`*{ ]+)`", README))
    assert paths
    for path in sorted(paths):
        assert (ROOT / path.rstrip("/")).exists(), path


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "dev" / "config_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
