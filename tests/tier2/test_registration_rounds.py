"""When a session calls its ST-1 next, decided without sleeping; and the bounded retry helper."""

from __future__ import annotations

import random

import pytest

from common.errors import UnavailableError
from common.service.retry import Backoff, retry_async
from tier2.registration import Outcome, Round, RoundPolicy, next_round

POLICY = RoundPolicy(backoff=Backoff(initial=1.0, maximum=60.0), ready_poll_interval=2.0)


def _round(outcome: Outcome, failures: int = 0, interval: float = 10.0) -> Round:
    return next_round(
        outcome, failures=failures, interval=interval, policy=POLICY, rng=random.Random(7)
    )


@pytest.mark.parametrize("outcome", [Outcome.REGISTERED, Outcome.KEPT_ALIVE])
def test_success_waits_the_negotiated_interval_with_a_little_jitter(outcome: Outcome) -> None:
    planned = _round(outcome, failures=4, interval=10.0)
    assert planned.failures == 0
    assert 9.0 <= planned.delay <= 10.0


def test_failures_back_off_exponentially_with_jitter_up_to_the_cap() -> None:
    delays = []
    failures = 0
    for _ in range(12):
        planned = _round(Outcome.FAILED, failures=failures)
        failures = planned.failures
        delays.append(planned.delay)
    assert failures == 12
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(60.0, 2.0 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 60.0


def test_a_forgetful_tier1_is_asked_again_at_once_then_with_backoff() -> None:
    first = _round(Outcome.FORGOTTEN, failures=0)
    assert first == Round(failures=1, delay=0.0)
    again = _round(Outcome.FORGOTTEN, failures=first.failures)
    assert again.failures == 2
    assert 0.5 <= again.delay <= 1.0


def test_a_refusal_waits_the_longest_delay() -> None:
    planned = _round(Outcome.REFUSED)
    assert 30.0 <= planned.delay <= 60.0


def test_an_unready_cluster_is_polled_without_counting_failures() -> None:
    assert _round(Outcome.NOT_READY, failures=3) == Round(failures=3, delay=2.0)


async def test_retry_async_tries_exactly_the_given_number_of_times() -> None:
    calls = 0
    pauses: list[float] = []

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        raise UnavailableError("down")

    async def no_sleep(seconds: float) -> None:
        pauses.append(seconds)

    with pytest.raises(UnavailableError):
        await retry_async(
            flaky,
            attempts=3,
            backoff=Backoff(0.2, 2.0),
            retryable=lambda exc: isinstance(exc, UnavailableError),
            what="flaky",
            rng=random.Random(1),
            sleep=no_sleep,
        )
    assert calls == 3
    assert len(pauses) == 2
    assert 0.1 <= pauses[0] <= 0.2
    assert 0.2 <= pauses[1] <= 0.4


async def test_retry_async_does_not_retry_what_is_not_retryable() -> None:
    calls = 0

    async def broken() -> str:
        nonlocal calls
        calls += 1
        raise ValueError("permanent")

    with pytest.raises(ValueError, match="permanent"):
        await retry_async(
            broken, attempts=5, backoff=Backoff(0.1, 1.0), retryable=lambda e: False, what="x"
        )
    assert calls == 1
