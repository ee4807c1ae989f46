"""Ask the ranked cloudlets to deploy, concurrently, until enough succeed or time runs out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from common.deployment import Deployment
from common.errors import SinfoniaError, UpstreamError, UpstreamTimeoutError
from tier1.records import CloudletRecord

logger = logging.getLogger(__name__)

DeployCall = Callable[[CloudletRecord], Awaitable[Deployment]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One cloudlet's answer: a deployment, or the error it ended in (never raised)."""

    rank: int
    site: CloudletRecord
    deployment: Deployment | None = None
    error: SinfoniaError | None = None


async def deploy_ranked(
    ranked: Sequence[CloudletRecord], *, want: int, deadline: float, call: DeployCall
) -> list[Outcome]:
    """Keep `want` calls in flight down the ranking; each failure starts the next candidate.

    Returns every outcome (successes and failures) in rank order. When the
    deadline passes, calls still running are cancelled and reported as
    timeouts, so one hanging cloudlet cannot hold the device beyond it.
    """

    async def attempt(rank: int, site: CloudletRecord) -> Outcome:
        try:
            return Outcome(rank, site, deployment=await call(site))
        except SinfoniaError as exc:
            return Outcome(rank, site, error=exc)
        except Exception as exc:  # a bug in a call must not take the others down
            logger.exception("deploy call to %s failed unexpectedly", site.name)
            return Outcome(rank, site, error=UpstreamError(f"{type(exc).__name__}"))

    outcomes: list[Outcome] = []
    pending: dict[asyncio.Task[Outcome], tuple[int, CloudletRecord]] = {}
    queue = list(enumerate(ranked))
    succeeded = 0
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline
    try:
        while True:
            while queue and len(pending) + succeeded < want:
                rank, site = queue.pop(0)
                pending[asyncio.create_task(attempt(rank, site))] = (rank, site)
            if not pending:
                break
            remaining = stop_at - loop.time()
            if remaining <= 0:
                break
            done, _ = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                pending.pop(task)
                outcome = task.result()
                outcomes.append(outcome)
                succeeded += outcome.deployment is not None
            if succeeded >= want:
                break
    finally:
        for task, (rank, site) in pending.items():
            task.cancel()
            outcomes.append(
                Outcome(rank, site, error=UpstreamTimeoutError(f"{site.name}: deadline passed"))
            )
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return sorted(outcomes, key=lambda outcome: outcome.rank)
