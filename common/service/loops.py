"""Guarded background loops: each step says when to run next; a crash is logged and throttled."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from common.service.retry import Backoff

logger = logging.getLogger(__name__)

Step = Callable[[], Awaitable[float | None]]
"""One round of a loop; returns the seconds until the next round (None: the default interval)."""

CRASH_BACKOFF = Backoff(initial=1.0, maximum=60.0)


async def run_periodically(
    name: str,
    step: Step,
    *,
    interval: float,
    initial_delay: float = 0.0,
    crash_backoff: Backoff = CRASH_BACKOFF,
    rng: random.Random | None = None,
) -> None:
    """Run `step` until cancelled; a step that raises is logged and retried after a backoff."""
    chooser = rng or random.Random()  # noqa: S311 - jitter, not secrets
    crashes = 0
    delay = initial_delay
    while True:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            wanted = await step()
        except Exception:
            crashes += 1
            delay = crash_backoff.delay(crashes, chooser)
            logger.exception(
                "loop %s crashed (%d in a row); next try in %.1fs", name, crashes, delay
            )
            continue
        crashes = 0
        delay = interval if wanted is None else max(0.0, wanted)


class LoopGroup:
    """Background loops owned by the service's lifespan: started together, cancelled together."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, step: Step, *, interval: float, initial_delay: float = 0.0) -> None:
        coroutine = run_periodically(name, step, interval=interval, initial_delay=initial_delay)
        self._tasks.append(asyncio.create_task(coroutine, name=f"sinfonia:{name}"))

    async def stop(self) -> None:
        """Cancel every loop and wait until each has finished."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        # return_exceptions: the loops' own CancelledError is collected, not raised; a
        # cancellation of stop() itself still propagates.
        await asyncio.gather(*tasks, return_exceptions=True)
