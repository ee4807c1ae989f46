"""The import-linter contract keeping web frameworks out of the wire schema names every module."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import common

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
CONTRACT = "The wire schema stays free of web frameworks and HTTP clients"


def test_every_wire_module_is_under_the_contract() -> None:
    config = tomllib.loads(PYPROJECT.read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    contract = next(contract for contract in contracts if contract["name"] == CONTRACT)
    wire_modules = {
        f"common.{module.name}"
        for module in pkgutil.iter_modules(common.__path__)
        if module.name != "service"
    }
    assert wire_modules == set(contract["source_modules"])
