"""The in-memory CloudletTable, the embedded default: one ST-1 process, indexes in dicts."""

from __future__ import annotations

import dataclasses
import hmac
import math
import random
import time
from collections.abc import Callable
from uuid import UUID

from common.errors import InvalidRequestError
from common.types import CloudletId
from tier1.records import CloudletRecord, Load
from tier1.table.geoindex import GeoIndex
from tier1.table.interface import CandidateQuery, Page, Touch, TouchOutcome
from tier1.table.prefixindex import PrefixIndex

MAX_LOCAL_MATCHES = 256


class MemoryTable:
    """Rows in slots (for O(1) random samples and stable listing order), plus three indexes.

    Expiry uses the monotonic clock: a row's deadline is `clock() + ttl`,
    kept in one-second buckets so a sweep touches only rows that are due.

    A keepalive leaves the row's record alone and keeps its load and time in a
    tuple of plain numbers beside it, which Python's garbage collector does not
    track: at 10^5 rows, a new record per keepalive kept the collector's oldest
    generation full of fresh objects, and each full collection then paused ST-1
    for about half a second. Reads put the two together again.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - sampling, not secrets
        self._slot_of: dict[CloudletId, int] = {}
        self._rows: list[CloudletRecord | None] = []
        self._live: list[_Live | None] = []
        """Per slot: the load and time of the latest keepalive, when newer than the record's."""
        self._free: list[int] = []
        # The indexes hold slot numbers: ints hash far faster than UUIDs.
        self._geo: GeoIndex[int] = GeoIndex()
        self._gpu_geo: GeoIndex[int] = GeoIndex()
        self._prefixes: PrefixIndex[int] = PrefixIndex()
        self._deadline: dict[CloudletId, float] = {}
        self._due: dict[int, set[CloudletId]] = {}

    # -- writes ---------------------------------------------------------------

    async def put(self, record: CloudletRecord) -> None:
        slot = self._slot_of.get(record.uuid)
        if slot is not None:
            self._unindex(slot, self._rows[slot])
            self._rows[slot] = record
            self._live[slot] = None
        else:
            slot = self._store(record)
        self._index(slot, record)
        self._schedule(record)

    async def touch(
        self, uuid: CloudletId, credential_digest: str, load: Load, now: float
    ) -> Touch:
        slot = self._slot_of.get(uuid)
        record = None if slot is None else self._rows[slot]
        if slot is None or record is None:
            return Touch(TouchOutcome.MISSING)
        if not record.credential_digest or not hmac.compare_digest(
            record.credential_digest, credential_digest
        ):
            return Touch(TouchOutcome.NOT_OWNER)
        if record.ttl is None:
            return Touch(TouchOutcome.STATIC, record.keepalive_interval, None)
        self._live[slot] = _pack(load, now)
        self._schedule(record)
        return Touch(TouchOutcome.TOUCHED, record.keepalive_interval, record.ttl)

    async def remove(self, uuid: CloudletId) -> bool:
        record = self._get(uuid)
        if record is None:
            return False
        self._delete(record)
        return True

    async def expire(self) -> int:
        now = self._clock()
        expired = 0
        for second in [second for second in self._due if second <= now]:
            for uuid in self._due.pop(second):
                deadline = self._deadline.get(uuid)
                slot = self._slot_of.get(uuid)
                record = None if slot is None else self._rows[slot]
                if record is not None and deadline is not None and deadline <= now:
                    self._delete(record)
                    expired += 1
        return expired

    # -- reads ----------------------------------------------------------------

    async def get(self, uuid: CloudletId) -> CloudletRecord | None:
        return self._get(uuid)

    async def candidates(self, query: CandidateQuery) -> list[CloudletRecord]:
        chosen: dict[int, None] = {}
        if query.client_address is not None:
            for slot in self._prefixes.match(query.client_address, MAX_LOCAL_MATCHES):
                chosen[slot] = None
        if query.client_location is not None:
            index = self._gpu_geo if query.gpu_only else self._geo
            for _, slot in index.nearest(query.client_location, query.nearest):
                chosen[slot] = None
        else:
            for slot in self._sample(query.sample_without_location, query.gpu_only):
                chosen[slot] = None
        rows = (self._view(slot) for slot in chosen)
        return [row for row in rows if row is not None]

    async def page(self, *, cursor: str | None, limit: int) -> Page:
        start = _parse_cursor(cursor)
        records: list[CloudletRecord] = []
        slot = start
        while slot < len(self._rows) and len(records) < limit:
            row = self._view(slot)
            if row is not None:
                records.append(row)
            slot += 1
        more = slot < len(self._rows)
        return Page(records=records, next_cursor=str(slot) if more else None)

    async def size(self) -> int:
        return len(self._slot_of)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- internals ------------------------------------------------------------

    def _get(self, uuid: CloudletId) -> CloudletRecord | None:
        slot = self._slot_of.get(uuid)
        return None if slot is None else self._view(slot)

    def _view(self, slot: int) -> CloudletRecord | None:
        """The row in `slot` with its latest load, as readers see it."""
        record = self._rows[slot]
        live = self._live[slot]
        if record is None or live is None:
            return record
        return dataclasses.replace(record, load=_unpack(live), last_update=live[-1])

    def _store(self, record: CloudletRecord) -> int:
        if self._free:
            slot = self._free.pop()
            self._rows[slot] = record
            self._live[slot] = None
        else:
            slot = len(self._rows)
            self._rows.append(record)
            self._live.append(None)
        self._slot_of[record.uuid] = slot
        return slot

    def _delete(self, record: CloudletRecord) -> None:
        slot = self._slot_of.pop(record.uuid)
        self._unindex(slot, record)
        self._rows[slot] = None
        self._live[slot] = None
        self._free.append(slot)
        self._deadline.pop(record.uuid, None)

    def _index(self, slot: int, record: CloudletRecord) -> None:
        self._geo.add(slot, record.locations)
        if record.gpus:
            self._gpu_geo.add(slot, record.locations)
        self._prefixes.add(slot, record.local_networks)

    def _unindex(self, slot: int, record: CloudletRecord | None) -> None:
        if record is None:
            return
        self._geo.remove(slot, record.locations)
        if record.gpus:
            self._gpu_geo.remove(slot, record.locations)
        self._prefixes.remove(slot, record.local_networks)

    def _schedule(self, record: CloudletRecord) -> None:
        if record.ttl is None:
            self._deadline.pop(record.uuid, None)
            return
        deadline = self._clock() + record.ttl
        self._deadline[record.uuid] = deadline
        self._due.setdefault(math.ceil(deadline), set()).add(record.uuid)

    def _sample(self, count: int, gpu_only: bool) -> list[int]:
        """Up to `count` random slots in use, in bounded time: free slots are skipped."""
        if not self._slot_of or count <= 0:
            return []
        if len(self._slot_of) <= count and not gpu_only:
            return list(self._slot_of.values())
        picked: dict[int, None] = {}
        for _ in range(count * 8):
            slot = self._rng.randrange(len(self._rows))
            row = self._rows[slot]
            if row is not None and (row.gpus or not gpu_only):
                picked[slot] = None
                if len(picked) >= count:
                    break
        return list(picked)


_Live = tuple[
    float | None, float | None, float | None, float | None, float | None, float | None,
    tuple[int, ...], float,
]  # fmt: skip
"""A keepalive's load and time as plain numbers (backends as UUID ints): untracked by the GC."""


def _pack(load: Load, now: float) -> _Live:
    return (
        load.cpu,
        load.memory,
        load.gpu,
        load.rx_bytes_per_second,
        load.tx_bytes_per_second,
        load.tier1_rtt_seconds,
        tuple(backend.int for backend in load.backends),
        now,
    )


def _unpack(live: _Live) -> Load:
    cpu, memory, gpu, rx, tx, rtt, backends, _ = live
    return Load(
        cpu=cpu,
        memory=memory,
        gpu=gpu,
        rx_bytes_per_second=rx,
        tx_bytes_per_second=tx,
        tier1_rtt_seconds=rtt,
        backends=frozenset(UUID(int=value) for value in backends) if backends else frozenset(),
    )


def _parse_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 12:
        raise InvalidRequestError("the cursor is not one this listing issued")
    return int(cursor)
