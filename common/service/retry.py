"""Bounded retries: a finite, capped exponential backoff with jitter, and one retry helper."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays `initial * 2**n`, capped at `maximum`, each scaled by a jitter in [0.5, 1]."""

    initial: float
    maximum: float

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The delay after failed attempt number `attempt` (1 for the first failure)."""
        exponent = min(max(attempt - 1, 0), 32)
        base = min(self.maximum, self.initial * (2.0**exponent))
        return base * rng.uniform(0.5, 1.0)


async def retry_async(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: Backoff,
    retryable: Callable[[BaseException], bool],
    what: str,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `call` up to `attempts` times, sleeping between tries while the error is retryable."""
    chooser = rng or random.Random()  # noqa: S311 - jitter, not secrets
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as exc:
            if attempt >= attempts or not retryable(exc):
                raise
            pause = backoff.delay(attempt, chooser)
            logger.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.2fs",
                what,
                attempt,
                attempts,
                exc,
                pause,
            )
            await sleep(pause)
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover
