"""Picking one deployment from the short list: first, random, or by probing each candidate."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from common.deployment import Deployment
from tier3.daemon.peers import join_url
from tier3.schema import BackendSource, Strategy

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One deployment on the short list, and where it came from."""

    deployment: Deployment
    source: BackendSource

    @property
    def key(self) -> tuple[str, str]:
        """Identifies a deployment: the cloudlet and the deployment's name there."""
        return (str(self.deployment.cloudlet), self.deployment.name)


@dataclass(frozen=True, slots=True)
class Probe:
    """What probing one candidate measured, in seconds; None where nothing answered."""

    rtt: float | None
    request: float | None

    @property
    def score(self) -> float | None:
        """Lower is better; None ranks after every candidate that answered both."""
        if self.rtt is None or self.request is None:
            return None
        return self.rtt + self.request


def merge_candidates(*lists: Sequence[Candidate]) -> list[Candidate]:
    """Concatenate in order, keeping the first of each cloudlet (JIT ones may be in ST-1's list)."""
    seen: set[str] = set()
    merged: list[Candidate] = []
    for candidates in lists:
        for candidate in candidates:
            cloudlet = str(candidate.deployment.cloudlet)
            if cloudlet not in seen:
                seen.add(cloudlet)
                merged.append(candidate)
    return merged


def rank(
    candidates: Sequence[Candidate],
    strategy: Strategy,
    *,
    rng: random.Random,
    probes: Sequence[Probe | None] | None = None,
) -> list[Candidate]:
    """Order candidates best first; the manager tries them in this order."""
    ordered = list(candidates)
    if strategy is Strategy.RANDOM:
        rng.shuffle(ordered)
    elif strategy is Strategy.PROBE:
        if probes is None or len(probes) != len(ordered):
            raise ValueError("the probe strategy needs one probe result per candidate")
        scores = [probe.score if probe is not None else None for probe in probes]

        def by_score(index: int) -> tuple[bool, float, int]:
            score = scores[index]
            return (score is None, score if score is not None else 0.0, index)

        ordered = [ordered[index] for index in sorted(range(len(ordered)), key=by_score)]
    return ordered


async def probe_candidates(
    candidates: Sequence[Candidate],
    *,
    http: httpx.AsyncClient,
    probe_timeout: float,
    samples: int,
) -> list[Probe | None]:
    """Measure each candidate's ST-2 concurrently, all within `probe_timeout` seconds.

    The round trip is the fastest of `samples` TCP connects to the cloudlet's
    API; the test request is one `GET /healthz` there. A candidate without a
    known API (v1 answers) gets None and ranks after the measured ones.
    """
    deadline = asyncio.get_running_loop().time() + probe_timeout
    results: list[Probe | None] = [None] * len(candidates)

    async def measure(index: int, endpoint: str) -> None:
        url = httpx.URL(endpoint)
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        rtt: float | None = None
        try:
            async with asyncio.timeout_at(deadline):
                for _ in range(samples):
                    took = await _connect_time(host, port)
                    rtt = took if rtt is None else min(rtt, took)
                    results[index] = Probe(rtt=rtt, request=None)
                started = time.perf_counter()
                response = await http.get(join_url(endpoint, "healthz"), timeout=probe_timeout)
                elapsed = time.perf_counter() - started
                if response.status_code < 500:
                    results[index] = Probe(rtt=rtt, request=elapsed)
        except (TimeoutError, OSError, httpx.HTTPError) as exc:
            logger.debug("probing %s stopped: %s", endpoint, exc or type(exc).__name__)

    async with asyncio.TaskGroup() as group:
        for index, candidate in enumerate(candidates):
            endpoint = candidate.deployment.cloudlet_endpoint
            if endpoint is not None:
                group.create_task(measure(index, str(endpoint)))
    logger.debug("probes: %s", results)
    return results


async def _connect_time(host: str, port: int) -> float:
    started = time.perf_counter()
    _reader, writer = await asyncio.open_connection(host, port)
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    return elapsed
