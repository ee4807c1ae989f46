"""Fixtures for ST-2 tests: settings in a temporary state directory, recipes, a stand-in ST-1."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tier2.servers import serve_in_thread
from tests.tier2.standin_tier1 import StandInTier1
from tier2.settings import Tier2Settings

ECHO_BACKEND = Path(__file__).with_name("echo_backend.py")
LOCAL_APP = uuid.UUID("00000000-0000-4000-8000-00000000e540")
SettingsFactory = Callable[..., Tier2Settings]


def eventually(check: Callable[[], bool], seconds: float = 10.0, interval: float = 0.05) -> bool:
    """Poll `check` until it is true or `seconds` pass; the last answer is returned."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def local_recipe(lease_seconds: float = 300.0, app: uuid.UUID = LOCAL_APP) -> dict[str, Any]:
    return {
        "uuid": str(app),
        "name": "echo",
        "lease_seconds": lease_seconds,
        "local": {
            "command": [sys.executable, str(ECHO_BACKEND), "${host}", "${port}", "${name}"],
            "ready_path": "/",
        },
    }


def write_recipes(directory: Path, *recipes: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for recipe in recipes:
        (directory / f"{recipe['uuid']}.yaml").write_text(yaml.safe_dump(recipe))
    return directory


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings with a private state directory and quiet loops; keyword arguments override."""

    def make(**overrides: Any) -> Tier2Settings:
        values: dict[str, Any] = {
            "api_url": "http://127.0.0.1:5001",
            "state_dir": tmp_path / "state",
            "cloudlet": {"name": "test-cloudlet", "local_networks": ["127.0.0.0/8"]},
            "metrics": {"interval": 30.0},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        return Tier2Settings(**values)

    return make


@pytest.fixture
def standin_tier1() -> Iterator[tuple[StandInTier1, str]]:
    """A stand-in ST-1 served over real HTTP on loopback."""
    standin = StandInTier1()
    with serve_in_thread(standin.build_app()) as url:
        yield standin, url
