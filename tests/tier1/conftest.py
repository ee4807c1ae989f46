"""Fixtures for ST-1: settings built directly, the app under TestClient with its lifespan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tier1.app import create_app
from tier1.settings import Tier1Settings

APP = "00000000-0000-0000-0000-0000000000a1"
GPU_APP = "00000000-0000-0000-0000-0000000000a2"
RESTRICTED_APP = "00000000-0000-0000-0000-0000000000a3"
KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
OTHER_KEY = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

ClientFactory = Callable[..., Any]


def write_recipes(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    recipes = {
        APP: {"uuid": APP, "name": "helloworld", "local": {"command": ["true"]}},
        GPU_APP: {
            "uuid": GPU_APP,
            "name": "gpu-app",
            "requirements": {"gpu": True},
            "local": {"command": ["true"]},
        },
        RESTRICTED_APP: {
            "uuid": RESTRICTED_APP,
            "name": "secret",
            "restricted": True,
            "local": {"command": ["true"]},
        },
    }
    for uuid, recipe in recipes.items():
        (directory / f"{uuid}.yaml").write_text(yaml.safe_dump(recipe))
    return directory


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    return write_recipes(tmp_path / "recipes")


@pytest.fixture
def make_client(recipe_dir: Path) -> Iterator[Callable[..., Any]]:
    """`make_client(**settings)` → a started ST-1 under TestClient; closed at teardown."""
    opened: list[TestClient] = []

    def make(client: tuple[str, int] = ("192.0.2.10", 40000), **settings: Any) -> TestClient:
        settings.setdefault("recipes", {"directory": recipe_dir})
        settings.setdefault("selection", {"seed": 1})
        app = create_app(Tier1Settings(**settings))
        test_client = TestClient(app, raise_server_exceptions=False, client=client)
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in reversed(opened):
        test_client.__exit__(None, None, None)
