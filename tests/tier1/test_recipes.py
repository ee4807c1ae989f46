"""Recipe stores: a directory checked at start, a URL with a cache; and static cloudlets files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI, Response

from common.errors import RecipeNotFoundError, UpstreamError
from common.types import AppId
from tests.support.servers import serve_in_thread
from tests.tier1.conftest import APP
from tier1.recipes import DirectoryRecipes, RecipeError, UrlRecipes
from tier1.static_cloudlets import StaticCloudletError, load_static_cloudlets
from tier1.tier2_client import speaks_v1

GOOD = {"uuid": APP, "name": "helloworld", "local": {"command": ["true"]}}


def write(directory: Path, name: str, document: object) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(yaml.safe_dump(document))


async def test_directory_serves_recipes_by_uuid(tmp_path: Path) -> None:
    write(tmp_path, f"{APP}.yaml", GOOD)
    (tmp_path / "README.txt").write_text("not a recipe")
    store = DirectoryRecipes.load(tmp_path)
    assert (await store.get(AppId(uuid.UUID(APP)))).name == "helloworld"
    with pytest.raises(RecipeNotFoundError):
        await store.get(AppId(uuid.UUID(int=5)))


@pytest.mark.parametrize(
    ("name", "document", "message"),
    [
        (f"{APP}.yaml", {**GOOD, "colour": "blue"}, "unknown key"),
        (f"{APP}.yaml", {**GOOD, "local": {"command": ["x"], "cmd": 1}}, "local.cmd"),
        (f"{uuid.UUID(int=9)}.yaml", GOOD, "not its file name"),
        ("helloworld.yaml", GOOD, "named <app-uuid>.yaml"),
        (f"{APP}.yaml", {"uuid": APP, "name": "x"}, "at least one of"),
    ],
)
def test_a_bad_recipe_directory_fails_at_start(
    tmp_path: Path, name: str, document: object, message: str
) -> None:
    write(tmp_path, name, document)
    with pytest.raises(RecipeError, match=message):
        DirectoryRecipes.load(tmp_path)


def test_a_missing_directory_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        DirectoryRecipes.load(tmp_path / "absent")


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def recipe_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    app = FastAPI()

    @app.get("/recipes/{name}")
    async def recipe(name: str) -> Response:
        hits.append(name)
        if name == f"{APP}.yaml":
            return Response(yaml.safe_dump(GOOD), media_type="application/yaml")
        if name == f"{uuid.UUID(int=2)}.yaml":
            return Response("uuid: [broken", media_type="application/yaml")
        return Response(status_code=404)

    with serve_in_thread(app) as url:
        yield f"{url}/recipes", hits


async def test_url_recipes_are_fetched_and_cached(recipe_server: tuple[str, list[str]]) -> None:
    url, hits = recipe_server
    clock = Clock()
    async with httpx.AsyncClient() as client:
        store = UrlRecipes(url, client=client, timeout=2.0, cache_ttl=60.0, clock=clock)
        app = AppId(uuid.UUID(APP))
        assert (await store.get(app)).name == "helloworld"
        assert (await store.get(app)).name == "helloworld"
        assert hits == [f"{APP}.yaml"]
        clock.now = 61.0
        await store.get(app)
        assert len(hits) == 2
        with pytest.raises(RecipeNotFoundError):
            await store.get(AppId(uuid.UUID(int=1)))
        with pytest.raises(UpstreamError, match="malformed"):
            await store.get(AppId(uuid.UUID(int=2)))


async def test_an_unreachable_recipe_server_is_an_upstream_error() -> None:
    async with httpx.AsyncClient() as client:
        store = UrlRecipes("http://127.0.0.1:9", client=client, timeout=1.0, cache_ttl=1.0)
        with pytest.raises(UpstreamError):
            await store.get(AppId(uuid.UUID(APP)))


def test_static_cloudlets_in_the_original_format(tmp_path: Path) -> None:
    path = tmp_path / "cloudlets.yaml"
    path.write_text(
        "endpoint: http://cloudlet-a:5000/api/v1/deploy\n"
        "name: a\n"
        "location: [40.44, -79.94]\n"
        "local_networks: [128.2.0.0/16]\n"
        "---\n"
        "endpoint: http://cloudlet-b:5000/api/v1/deploy\n"
        "locations: [[51.5, -0.12], [48.8, 2.35]]\n"
        "accepted_clients: [10.0.0.0/8]\n"
        "resources: {cpu_ratio: 0.5}\n"
    )
    records = load_static_cloudlets(path, now=0.0, keepalive_interval=10.0, ttl=None, trust_level=0)
    a, b = records
    assert a.name == "a"
    assert a.locations == ((40.44, -79.94),)
    assert b.name == "cloudlet-b"
    assert len(b.locations) == 2
    assert b.load.cpu == 0.5
    assert a.ttl is None
    assert speaks_v1(a)
    again = load_static_cloudlets(path, now=0.0, keepalive_interval=10.0, ttl=None, trust_level=0)
    assert [r.uuid for r in again] == [r.uuid for r in records]  # stable identity


@pytest.mark.parametrize(
    "content", ["name: no-endpoint\n", "endpoint: x\nlocaton: [1, 2]\n", "endpoint: [\n"]
)
def test_bad_static_cloudlets_fail_at_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cloudlets.yaml"
    path.write_text(content)
    with pytest.raises(StaticCloudletError):
        load_static_cloudlets(path, now=0.0, keepalive_interval=10.0, ttl=None, trust_level=0)
