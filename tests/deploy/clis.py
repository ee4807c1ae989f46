"""Command lines from deploy files and the README, parsed by the real CLI they name."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import typer

ROOT = Path(__file__).resolve().parents[2]
#: `${VAR}`, `${VAR:-default}` and `${VAR:?message}`, as compose substitutes them.
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def _scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    scripts: dict[str, str] = project["scripts"]
    return scripts


def _interpolate(value: str) -> str:
    """What compose would substitute, with a stand-in where the operator must give a value."""

    def one(match: re.Match[str]) -> str:
        kind, default = match.group(2), match.group(3)
        if kind == "-":
            return default or ""
        return "http://operator-supplied.invalid"

    return INTERPOLATION.sub(one, value)


def parse_command(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse a command line with the real CLI of the console script it names; its options."""
    script, *args = [_interpolate(str(arg)) for arg in argv]
    scripts = _scripts()
    assert script in scripts, f"{script} is not a console script of this project"
    module = importlib.import_module(scripts[script].partition(":")[0])
    group = typer.main.get_command(module.cli)
    assert isinstance(group, typer.core.TyperGroup)
    subcommand, *options = args
    assert subcommand in group.commands, f"{script} has no command {subcommand!r}"
    context = group.commands[subcommand].make_context(subcommand, options)
    return script, dict(context.params)
