"""Background loops under a guard: a crash is logged and the loop restarts, throttled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

MAX_RESTART_DELAY = 30.0


async def run_periodically(
    name: str,
    step: Callable[[], Awaitable[object]],
    *,
    interval: float,
    max_restart_delay: float = MAX_RESTART_DELAY,
) -> None:
    """Call `step` every `interval` seconds until cancelled.

    A step that raises is logged; the next attempt waits twice as long as the
    one before (up to `max_restart_delay`), and a success resets the wait.
    Cancellation always propagates.
    """
    failures = 0
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(interval * 2**failures, max_restart_delay)
            logger.exception(
                "background loop %s failed (%d in a row); retrying in %.1fs", name, failures, delay
            )
            await asyncio.sleep(delay)
            continue
        failures = 0
        await asyncio.sleep(interval)
