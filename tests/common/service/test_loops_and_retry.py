"""Background loops and bounded retries: the shared plumbing every tier's loops run on."""

from __future__ import annotations

import asyncio
import random

import pytest

from common.service.loops import LoopGroup, run_periodically
from common.service.retry import Backoff, retry_async


async def test_a_step_chooses_its_next_delay_and_crashes_are_retried() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def step() -> float | None:
        calls.append(loop.time())
        if len(calls) == 2:
            raise RuntimeError("transient")
        if len(calls) >= 4:
            await asyncio.Event().wait()  # park: the test is done
        return 0.0

    task = asyncio.create_task(
        run_periodically(
            "test", step, interval=10.0, crash_backoff=Backoff(initial=0.01, maximum=0.01)
        )
    )
    for _ in range(200):
        if len(calls) >= 4:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) == 4  # the crash did not end the loop, and 10 s never had to pass


async def test_loop_group_stops_every_loop() -> None:
    group = LoopGroup()
    started = asyncio.Event()

    async def step() -> None:
        started.set()

    group.start("one", step, interval=0.01)
    group.start("two", step, interval=0.01)
    await asyncio.wait_for(started.wait(), 5)
    await group.stop()
    assert all(
        task.done() for task in asyncio.all_tasks() if task.get_name().startswith("sinfonia:")
    )


async def test_retries_are_bounded_and_only_for_retryable_errors() -> None:
    attempts = 0
    pauses: list[float] = []

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("down")

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    with pytest.raises(ConnectionError):
        await retry_async(
            flaky,
            attempts=3,
            backoff=Backoff(initial=0.1, maximum=0.15),
            retryable=lambda exc: isinstance(exc, ConnectionError),
            what="flaky call",
            rng=random.Random(0),
            sleep=sleep,
        )
    assert attempts == 3
    assert len(pauses) == 2
    assert 0.05 <= pauses[0] <= 0.1
    assert 0.075 <= pauses[1] <= 0.15

    attempts = 0
    with pytest.raises(ConnectionError):
        await retry_async(
            flaky,
            attempts=5,
            backoff=Backoff(initial=0.1, maximum=1.0),
            retryable=lambda exc: False,
            what="not retryable",
            sleep=sleep,
        )
    assert attempts == 1
