"""Schemathesis against each service's own OpenAPI document, in process (ASGI), with peers
that answer: no 5xx, and no response that the document does not describe.

Each service gets at least `SINFONIA_FUZZ_REQUESTS` requests (default 1,200), shared
between schema-valid and schema-invalid cases of every operation; set it higher to fuzz
longer locally. Under CI=true the generation is derandomized, so a run is
reproducible. Positive-data acceptance is not checked: a schema cannot say that a cursor
must be one the service issued, or that a network has no host bits set, and those
requests rightly get a 400 or 422 (which the other checks still validate).

Safety: nothing here reaches beyond loopback. ST-1 admits cloudlets by token (the
fuzzer cannot register endpoints of its own), ST-2 takes no recipe from the fuzzer (it
calls as a local-network JIT client, never as an ST-1), and ST-3's `tier1_url` is
pinned to the loopback stand-in before each call.
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import ASGIApp, Receive, Scope, Send

from common.keys import urlsafe_key
from tests.harness.requirements import in_ci
from tests.support.servers import serve_in_thread
from tests.tier1.conftest import APP, KEY
from tests.tier1.conftest import write_recipes as write_tier1_recipes
from tests.tier1.registration_bodies import registration
from tests.tier1.standins import StandInCloudlet
from tests.tier2.conftest import LOCAL_APP, local_recipe
from tests.tier2.conftest import write_recipes as write_tier2_recipes
from tests.tier3 import standins as tier3_standins
from tier1.app import create_app as create_tier1
from tier1.settings import Tier1Settings
from tier2.app import create_app as create_tier2
from tier2.settings import Tier2Settings
from tier3.daemon.app import create_app as create_tier3
from tier3.settings import Tier3Settings

REQUESTS = int(os.environ.get("SINFONIA_FUZZ_REQUESTS", "1200"))
"""Requests each service gets at least (over all its operations); more locally for longer runs."""
MIN_REQUESTS = 1000
TOKEN = "fuzz-registration-token-0123456789"
DEPLOY_TOKEN = "fuzz-deploy-credential-0123456789"
LOOPBACK_PEER = ("127.0.0.1", 40000)


@dataclass
class Tally:
    """What one service's fuzzing did: requests by status, and each distinct failure once."""

    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.requests} requests, statuses {dict(sorted(self.statuses.items()))}"]
        lines += [f"--- {key}\n{detail}" for key, detail in self.failures.items()]
        return "\n".join(lines)


class FixedPeer:
    """The transport edge: every request comes from `peer` (schemathesis sends no address)."""

    def __init__(self, app: ASGIApp, peer: tuple[str, int]) -> None:
        self.app = app
        self.peer = peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": self.peer}
        await self.app(scope, receive, send)


def fuzz(
    schema: schemathesis.BaseSchema,
    *,
    prepare: Callable[[Any], None] = lambda case: None,
    headers: dict[str, str] | None = None,
    fixed: dict[str, tuple[dict[str, Any], int]] | None = None,
) -> Tally:
    """Send positive and negative cases of every operation; validate every response.

    `fixed` maps an operation label to path parameters that stay fixed for an
    extra positive pass of so many examples (so deploys reach a known app too).
    """
    tally = Tally()
    passes: list[tuple[Any, GenerationMode, dict[str, Any] | None, int | None]] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            passes.append((operation, mode, None, None))
        if fixed and operation.label in fixed:
            parameters, extra = fixed[operation.label]
            passes.append((operation, GenerationMode.POSITIVE, parameters, extra))
    # Operations without parameters run out of distinct cases at once: give the rest more.
    examples = math.ceil(2 * REQUESTS / len(passes))
    for operation, mode, path_parameters, count in passes:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
        label = f"{operation.label} [{mode.value}]"
        try:
            _run_pass(strategy, label, count or examples, tally, prepare, headers)
        except hypothesis.errors.Unsatisfiable:
            # Some operations (no parameters, no body) have no invalid form at all.
            assert mode is GenerationMode.NEGATIVE, label
    return tally


def _run_pass(
    strategy: Any,
    label: str,
    examples: int,
    tally: Tally,
    prepare: Callable[[Any], None],
    headers: dict[str, str] | None,
) -> None:
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=in_ci(),
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        prepare(case)
        tally.requests += 1
        response = case.call(headers=headers)
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(
                response, headers=headers, excluded_checks=[positive_data_acceptance]
            )
        except BaseException as exc:  # schemathesis raises a group of check failures
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            title = next(
                (line for line in str(exc).splitlines() if line.startswith("- ")), repr(exc)
            )
            tally.failures.setdefault(f"{label} {title}", str(exc)[:3000])

    run()


def assert_survived(tally: Tally) -> None:
    print(f"schemathesis: {tally.summary()}")  # shown with -s; the figures for the report
    assert not tally.failures, tally.summary()
    assert tally.requests >= min(MIN_REQUESTS, REQUESTS), tally.summary()
    assert not any(status >= 500 for status in tally.statuses), tally.summary()


@pytest.fixture
def stop_lifespans() -> Iterator[None]:
    """Schemathesis keeps an app's lifespan running for the process; end it with the test."""
    yield
    asgi.shutdown_lifespans()


def test_tier1_survives_its_own_openapi_document(tmp_path: Path, stop_lifespans: None) -> None:
    values: dict[str, Any] = {
        "recipes": {"directory": write_tier1_recipes(tmp_path / "recipes")},
        "admission": {"policy": "token", "token": TOKEN},
        "selection": {"seed": 1},
        "deploy": {"cloudlet_timeout": 5.0, "deadline": 10.0},
    }
    app: Any = FixedPeer(create_tier1(Tier1Settings(**values)), LOOPBACK_PEER)
    with contextlib.ExitStack() as stack:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        with asgi.get_client(app) as client:  # starts the lifespan schemathesis then reuses
            for number in (1, 2, 3):
                cloudlet = StandInCloudlet(uuid.UUID(int=number))
                url = stack.enter_context(serve_in_thread(cloudlet.app()))
                body = registration(number, endpoint=url, locations=[[40.4, -79.9 + number]])
                body.update(
                    registration_token=TOKEN, deploy_credential=DEPLOY_TOKEN, keepalive_interval=300
                )
                assert client.post("/api/v2/cloudlets", json=body).status_code == 201
        key = urlsafe_key(KEY)
        deploy_paths = ({"app": APP, "key": key}, 30)
        tally = fuzz(
            schema,
            fixed={
                "POST /api/v1/deploy/{app}/{key}": deploy_paths,
                "GET /api/v1/deploy/{app}/{key}": deploy_paths,
                "GET /api/v2/deploy/{app}/{key}": deploy_paths,
                "DELETE /api/v2/deploy/{app}/{key}": deploy_paths,
                "GET /api/v2/recipes/{app}": ({"app": APP}, 10),
            },
        )
    assert_survived(tally)
    assert tally.statuses.get(200, 0) > 0


def test_tier2_survives_its_own_openapi_document(tmp_path: Path, stop_lifespans: None) -> None:
    values: dict[str, Any] = {
        "api_url": "http://127.0.0.1:5001",
        "state_dir": tmp_path / "state",
        "recipes_dir": write_tier2_recipes(tmp_path / "recipes", local_recipe()),
        "jit": True,
        "cloudlet": {"name": "fuzzed", "local_networks": ["127.0.0.0/8"]},
        "metrics": {"interval": 30.0},
    }
    app: Any = FixedPeer(create_tier2(Tier2Settings(**values)), LOOPBACK_PEER)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with asgi.get_client(app) as client:
        assert client.get("/readyz").status_code == 200
    tally = fuzz(
        schema,
        fixed={
            "GET /api/v2/deployments/{app}/{key}": ({"app": str(LOCAL_APP)}, 30),
            # Each of these starts a real backend process: a few are enough.
            "POST /api/v1/deploy/{app}/{key}": ({"app": str(LOCAL_APP)}, 5),
        },
    )
    assert_survived(tally)


def test_tier3_survives_its_own_openapi_document(tmp_path: Path, stop_lifespans: None) -> None:
    with contextlib.ExitStack() as stack:
        cloudlets = []
        for index in (1, 2):
            port = tier3_standins_port()
            config = tier3_standins.Tier2Config(
                cloudlet=uuid.uuid4(),
                name=f"fuzz{index}",
                api_url=f"http://127.0.0.1:{port}",
                wg_endpoint=f"192.0.2.{index}:51820",
            )
            recorder = tier3_standins.Recorder()
            stack.enter_context(
                tier3_standins.serve_in_thread(
                    tier3_standins.build_tier2(config, recorder), port=port
                )
            )
            cloudlets.append(config.api_url)
        tier1 = stack.enter_context(
            tier3_standins.serve_in_thread(
                tier3_standins.build_tier1(
                    tier3_standins.Tier1Config(tier2_urls=cloudlets), tier3_standins.Recorder()
                )
            )
        )
        values: dict[str, Any] = {
            "cache_dir": tmp_path / "cache",
            "tier1": {"url": tier1, "connect_attempts": 1},
            "tunnel": {"mode": "config-only", "config_dir": tmp_path / "tunnels"},
            "shutdown_timeout": 5.0,
        }
        app = create_tier3(Tier3Settings(**values))
        stack.callback(asgi.shutdown_lifespans)  # the daemon releases while its peers still run
        headers = {"host": "localhost"}
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)

        def pin_tier1(case: Any) -> None:
            # A URL the daemon would call goes to the stand-in instead (an invalid one stays,
            # to be refused).
            url = case.body.get("tier1_url") if isinstance(case.body, dict) else None
            if isinstance(url, str) and urlsplit(url).scheme in ("http", "https"):
                case.body["tier1_url"] = tier1
            # `after` waits for the next backend, up to `wait` seconds (30 by default).
            query = case.query if isinstance(case.query, dict) else {}
            wait = query.get("wait")
            if "after" in query and (wait is None or (isinstance(wait, int | float) and wait > 1)):
                query["wait"] = 0.2

        tally = fuzz(schema, prepare=pin_tier1, headers=headers)
    assert_survived(tally)
    assert tally.statuses.get(200, 0) > 0


def tier3_standins_port() -> int:
    from tests.harness.processes import free_port

    return free_port()
