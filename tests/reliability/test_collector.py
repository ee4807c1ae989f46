"""Keepalives on the in-memory table leave nothing behind for Python's garbage collector.

Found by benchmarks.load: at 10^5 rows, each keepalive made a new record and
load (tracked objects that lived until the next keepalive), so full collections
kept coming and each paused ST-1 for about 0.4 s (deploy p99 337 ms against a
100 ms target). The table now keeps a keepalive's load as plain numbers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import Iterator

import pytest

from common.service.server import YOUNG_GC_THRESHOLD, tune_garbage_collector
from tests.tier1.records import cid, make_record
from tier1.records import Load
from tier1.table.interface import TouchOutcome
from tier1.table.memory import MemoryTable

ROWS = 2000


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """Everything alive now is set aside: what the collector sees afterwards is new."""
    gc.collect()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


DIGEST = "0" * 64


async def _filled() -> MemoryTable:
    table = MemoryTable()
    for number in range(1, ROWS + 1):
        await table.put(dataclasses.replace(make_record(number), credential_digest=DIGEST))
    return table


def test_keepalives_leave_no_long_lived_objects_for_the_collector(frozen_heap: None) -> None:
    table = asyncio.run(_filled())
    gc.collect()
    gc.freeze()  # the table as registered
    load = Load(cpu=0.5, memory=0.25)

    async def keep_alive() -> None:
        for number in range(1, ROWS + 1):
            touch = await table.touch(cid(number), DIGEST, load, 1_800_000_100.0)
            assert touch.outcome is TouchOutcome.TOUCHED

    asyncio.run(keep_alive())
    gc.collect(0)  # what a young collection keeps: it would reach the oldest generation
    survivors = len(gc.get_objects(generation=1)) + len(gc.get_objects(generation=2))
    assert survivors < ROWS // 10, survivors
    view = asyncio.run(table.get(cid(7)))
    assert view is not None
    assert view.load.cpu == 0.5
    assert view.last_update == 1_800_000_100.0


def test_services_collect_the_young_generation_less_often() -> None:
    """Found by benchmarks.load: with CPython's default (700), request objects in flight were
    promoted fast enough that a full collection (0.36 s over 10^5 rows) fell in every
    30 s window; `serve` raises the young threshold (measured: deploy p99 290 -> 14 ms)."""
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_garbage_collector()
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, 10, 10)
        assert YOUNG_GC_THRESHOLD >= 10_000
    finally:
        gc.set_threshold(*saved)
