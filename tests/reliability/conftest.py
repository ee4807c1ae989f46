"""Fixtures of the reliability suite: each service built from real settings, started under
TestClient (lifespan included), and closed at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.reliability.faults.services import services
from tests.tier1.conftest import write_recipes as write_tier1_recipes
from tests.tier2.conftest import local_recipe
from tests.tier2.conftest import write_recipes as write_tier2_recipes
from tier1.app import create_app as create_tier1
from tier1.settings import Tier1Settings
from tier2.app import create_app as create_tier2
from tier2.settings import Tier2Settings
from tier3.daemon.app import create_app as create_tier3
from tier3.schema import TunnelMode
from tier3.settings import Tier3Settings

__all__ = ["services"]  # the real services as processes (tests.reliability.faults.services)

OUTSIDER = ("192.0.2.66", 40000)
"""A peer on no network any service trusts (TEST-NET-1: never routed, never contacted)."""

PEER_HEADER = "x-test-peer"
ClientFactory = Callable[..., TestClient]


class PeerFromHeader:
    """The transport edge: a request carrying `x-test-peer: ADDRESS` comes from ADDRESS.

    One started service can then be called by many peers (TestClient has one).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != PEER_HEADER.encode()]
            peer = [v for k, v in scope["headers"] if k == PEER_HEADER.encode()]
            if peer:
                scope = {**scope, "headers": headers, "client": (peer[0].decode(), 40000)}
        await self.app(scope, receive, send)


def from_peer(address: str) -> dict[str, str]:
    """Headers that make a request come from `address` (see `PeerFromHeader`)."""
    return {PEER_HEADER: address}


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` on top of `base`, merging nested sections one level deep."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


@pytest.fixture
def clients() -> Iterator[list[TestClient]]:
    opened: list[TestClient] = []
    yield opened
    for client in reversed(opened):
        client.__exit__(None, None, None)


def _open(opened: list[TestClient], client: TestClient) -> TestClient:
    client.__enter__()
    opened.append(client)
    return client


@pytest.fixture
def tier1_client(tmp_path: Path, clients: list[TestClient]) -> ClientFactory:
    """`tier1_client(peer=..., **settings)`: a started ST-1 with the tier1 test recipes."""
    recipes = write_tier1_recipes(tmp_path / "tier1-recipes")

    def make(peer: tuple[str, int] = OUTSIDER, **settings: Any) -> TestClient:
        values = merge({"recipes": {"directory": recipes}, "selection": {"seed": 1}}, settings)
        app = create_tier1(Tier1Settings(**values))
        return _open(
            clients, TestClient(PeerFromHeader(app), raise_server_exceptions=False, client=peer)
        )

    return make


@pytest.fixture
def tier2_settings(tmp_path: Path) -> Callable[..., Tier2Settings]:
    """ST-2 with the local driver, the echo recipe, a private state dir and quiet loops."""
    recipes = write_tier2_recipes(tmp_path / "tier2-recipes", local_recipe())

    def make(**settings: Any) -> Tier2Settings:
        base: dict[str, Any] = {
            "api_url": "http://127.0.0.1:5001",
            "state_dir": tmp_path / "tier2-state",
            "recipes_dir": recipes,
            "cloudlet": {"name": "abuse-cloudlet", "local_networks": ["127.0.0.0/8"]},
            "metrics": {"interval": 30.0},
        }
        return Tier2Settings(**merge(base, settings))

    return make


@pytest.fixture
def tier2_client(
    tier2_settings: Callable[..., Tier2Settings], clients: list[TestClient]
) -> ClientFactory:
    def make(peer: tuple[str, int] = OUTSIDER, **settings: Any) -> TestClient:
        app = create_tier2(tier2_settings(**settings))
        return _open(
            clients, TestClient(PeerFromHeader(app), raise_server_exceptions=False, client=peer)
        )

    return make


@pytest.fixture
def tier3_client(tmp_path: Path, clients: list[TestClient]) -> ClientFactory:
    """A config-only daemon with no ST-1 configured (abuse tests never get that far)."""

    def make(peer: tuple[str, int] = ("127.0.0.1", 40000), **settings: Any) -> TestClient:
        base: dict[str, Any] = {
            "cache_dir": tmp_path / "tier3-cache",
            "tunnel": {"mode": TunnelMode.CONFIG_ONLY, "config_dir": tmp_path / "tunnels"},
            "shutdown_timeout": 2.0,
        }
        app = create_tier3(Tier3Settings(**merge(base, settings)))
        client = TestClient(
            PeerFromHeader(app),
            raise_server_exceptions=False,
            client=peer,
            base_url="http://localhost",
        )
        return _open(clients, client)

    return make
