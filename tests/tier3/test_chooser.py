"""Choosing from the short list: the pure ranking, and probing real stand-in cloudlets."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from common.deployment import Deployment
from tests.tier3.conftest import Standins
from tier3.daemon.chooser import Candidate, Probe, merge_candidates, probe_candidates, rank
from tier3.schema import BackendSource, Strategy

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


def _candidate(
    name: str, *, endpoint: str | None = None, cloudlet: uuid.UUID | None = None
) -> Candidate:
    deployment = Deployment.model_validate(
        {
            "cloudlet": cloudlet or uuid.uuid5(uuid.NAMESPACE_DNS, name),
            "cloudlet_name": name,
            "cloudlet_endpoint": endpoint,
            "app": uuid.UUID(int=1),
            "client_public_key": KEY,
            "name": name,
            "status": "Deployed",
            "created": datetime.now(UTC),
            "tunnel": {
                "public_key": KEY,
                "endpoint": "192.0.2.1:51820",
                "allowed_ips": ["10.0.0.1/32"],
                "address": ["10.0.0.2/32"],
            },
        }
    )
    return Candidate(deployment, BackendSource.TIER1)


def _names(candidates: list[Candidate]) -> list[str]:
    return [c.deployment.name for c in candidates]


A, B, C = _candidate("a"), _candidate("b"), _candidate("c")


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        ([Probe(0.03, 0.01), Probe(0.001, 0.002), Probe(0.01, 0.01)], ["b", "c", "a"]),
        ([None, Probe(0.5, 0.5), None], ["b", "a", "c"]),
        ([Probe(0.001, None), Probe(0.2, 0.2), None], ["b", "a", "c"]),
        ([Probe(0.01, 0.01), Probe(0.01, 0.01), Probe(0.001, 0.001)], ["c", "a", "b"]),
        ([None, None, None], ["a", "b", "c"]),
    ],
)
def test_probe_ranks_by_measured_time_then_list_order(
    probes: list[Probe | None], expected: list[str]
) -> None:
    assert _names(rank([A, B, C], Strategy.PROBE, rng=random.Random(0), probes=probes)) == expected


def test_first_keeps_the_order_and_random_uses_the_injected_rng() -> None:
    assert _names(rank([A, B, C], Strategy.FIRST, rng=random.Random(0))) == ["a", "b", "c"]
    shuffled = [
        _names(rank([A, B, C], Strategy.RANDOM, rng=random.Random(seed))) for seed in range(20)
    ]
    assert all(sorted(order) == ["a", "b", "c"] for order in shuffled)
    assert len({tuple(order) for order in shuffled}) > 1
    again = [
        _names(rank([A, B, C], Strategy.RANDOM, rng=random.Random(seed))) for seed in range(20)
    ]
    assert again == shuffled


def test_probe_needs_one_result_per_candidate() -> None:
    with pytest.raises(ValueError, match="one probe result per candidate"):
        rank([A, B], Strategy.PROBE, rng=random.Random(0), probes=[None])


def test_merge_keeps_the_first_deployment_of_each_cloudlet() -> None:
    same = uuid.uuid4()
    jit = Candidate(_candidate("jit", cloudlet=same).deployment, BackendSource.JIT)
    listed = _candidate("listed", cloudlet=same)
    assert _names(merge_candidates([jit], [A, listed, B])) == ["jit", "a", "b"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        yield client


async def test_probing_ranks_a_slow_cloudlet_last(
    standins: Standins, http: httpx.AsyncClient
) -> None:
    slow, fast, _ = standins.cloudlets
    slow.config.healthz_delay = 0.1
    candidates = [
        _candidate("slow", endpoint=slow.url),
        _candidate("fast", endpoint=fast.url),
        _candidate("v1-answer"),
    ]
    probes = await probe_candidates(candidates, http=http, probe_timeout=2.0, samples=2)

    assert probes[0] is not None
    assert probes[1] is not None
    assert probes[2] is None  # no ST-2 URL to probe
    assert probes[0].request is not None
    assert probes[0].request >= 0.1
    score = probes[1].score
    assert score is not None
    assert score < 0.1
    ranked = rank(candidates, Strategy.PROBE, rng=random.Random(0), probes=probes)
    assert _names(ranked) == ["fast", "slow", "v1-answer"]


async def test_probing_stays_within_its_time_bound(
    standins: Standins, http: httpx.AsyncClient
) -> None:
    hung, quick, _ = standins.cloudlets
    hung.config.healthz_delay = 1.0
    candidates = [_candidate("hung", endpoint=hung.url), _candidate("quick", endpoint=quick.url)]
    started = time.monotonic()
    probes = await probe_candidates(candidates, http=http, probe_timeout=0.3, samples=1)
    assert time.monotonic() - started < 1.0
    assert probes[0] is not None
    assert probes[0].rtt is not None  # connected, but the test request never answered
    assert probes[0].request is None
    assert probes[1] is not None
    assert probes[1].score is not None
