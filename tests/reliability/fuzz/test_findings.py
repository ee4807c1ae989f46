"""What the fuzzers found, each pinned by a plain test that failed before its fix."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from common.cloudlet import Keepalive, RegistrationRequest
from common.deployment import DeployRequest
from common.keys import parse_wireguard_key
from common.service.openapi import PROBLEM_REF
from common.types import WIREGUARD_KEY_PATTERN
from common.wire import WireModel
from tests.harness.processes import free_port
from tests.tier1.conftest import KEY
from tests.tier3 import standins
from tier1.app import create_app as create_tier1
from tier1.settings import Tier1Settings
from tier3.daemon.app import create_app as create_tier3
from tier3.schema import DeployBackendRequest
from tier3.settings import Tier3Settings


@pytest.fixture
def tier1_with_two_cloudlets() -> Iterator[str]:
    """The ST-3 stand-in ST-1 in front of two stand-in ST-2s (each answers a deploy)."""
    with ExitStack() as stack:
        urls = []
        for index in (1, 2):
            port = free_port()
            config = standins.Tier2Config(
                cloudlet=uuid.uuid4(),
                name=f"found{index}",
                api_url=f"http://127.0.0.1:{port}",
                wg_endpoint=f"192.0.2.{index}:51820",
            )
            app = standins.build_tier2(config, standins.Recorder())
            stack.enter_context(standins.serve_in_thread(app, port=port))
            urls.append(config.api_url)
        tier1 = standins.build_tier1(standins.Tier1Config(tier2_urls=urls), standins.Recorder())
        yield stack.enter_context(standins.serve_in_thread(tier1))


def test_probe_strategy_with_a_single_candidate_is_served(
    tier1_with_two_cloudlets: str, tmp_path: Path
) -> None:
    """Found by schemathesis: `strategy: probe` with `results: 1` was a 500 (ValueError)."""
    values: dict[str, Any] = {
        "cache_dir": tmp_path / "cache",
        "tier1": {"url": tier1_with_two_cloudlets},
        "tunnel": {"mode": "config-only", "config_dir": tmp_path / "tunnels"},
    }
    with TestClient(create_tier3(Tier3Settings(**values)), base_url="http://localhost") as daemon:
        response = daemon.post(
            "/api/v2/backends",
            json={"app": str(uuid.uuid4()), "strategy": "probe", "results": 1},
        )
        assert response.status_code == 200, response.text
        assert response.json()["candidates"] == 1


def test_every_error_is_documented_as_a_problem(tmp_path: Path) -> None:
    """Found by schemathesis: error bodies were undocumented (FastAPI documents a 422 in its
    own shape and nothing else), so clients could not rely on them."""
    document = create_tier1(Tier1Settings()).openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status in ("4XX", "5XX", *(s for s in operation["responses"] if s == "422")):
                content = operation["responses"][status]["content"]
                schema = content["application/problem+json"]["schema"]
                assert schema == {"$ref": PROBLEM_REF}, (method, path, status)


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=", True),
        ("yAnz5TF-lXXJte14tji3zlMNq-hd2rYUIgJBgB3fBmk", True),
        ("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBml=", False),  # unused bits set
        ("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBm=", False),  # 42 characters
    ],
)
def test_the_documented_key_pattern_is_the_parser(key: str, valid: bool) -> None:
    """Found by schemathesis: the document said any string is a key; most were refused."""
    assert bool(re.fullmatch(WIREGUARD_KEY_PATTERN, key)) is valid
    try:
        parse_wireguard_key(key)
    except ValueError:
        parsed = False
    else:
        parsed = True
    assert parsed is valid


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (DeployBackendRequest, {"app": str(uuid.uuid4()), "results": True}),
        (DeployRequest, {"app": str(uuid.uuid4()), "client_public_key": KEY, "results": "2"}),
        (Keepalive, {"metrics": {"cpu_utilization": False}}),
        (RegistrationRequest, {"cloudlet": {}, "keepalive_interval": "10"}),
        (DeployBackendRequest, {"app": str(uuid.uuid4()), "static_scoping": 0.0}),
        (DeployBackendRequest, {"app": str(uuid.uuid4()), "discover": "yes"}),
    ],
    ids=[
        "bool-results",
        "string-results",
        "bool-fraction",
        "string-seconds",
        "number-boolean",
        "string-boolean",
    ],
)
def test_fields_take_their_own_json_type_only(model: type[WireModel], body: dict[str, Any]) -> None:
    """Found by schemathesis: `"results": true` was accepted as 1 and `"static_scoping": 0.0`
    as false (pydantic's lax mode)."""
    with pytest.raises(ValidationError, match=r"must be (a number|true or false)"):
        model.model_validate(body)
