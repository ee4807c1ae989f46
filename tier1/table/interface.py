"""What every CloudletTable backend offers; the rest of ST-1 sees only this."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from common.types import CloudletId
from tier1.netmatch import AddrKey
from tier1.records import CloudletRecord, Load, Location


@dataclass(frozen=True, slots=True)
class CandidateQuery:
    """Which rows a selection cycle looks at, found through the indexes, never by a scan."""

    client_address: AddrKey | None
    """Cloudlets listing this address in their local networks are included."""
    client_location: Location | None
    """The `nearest` cloudlets to this point are included."""
    nearest: int = 64
    gpu_only: bool = False
    """Look for the nearest among cloudlets with a GPU only."""
    sample_without_location: int = 64
    """With no client location, a random sample of this size stands in for proximity."""


class TouchOutcome(enum.Enum):
    TOUCHED = "touched"
    MISSING = "missing"
    NOT_OWNER = "not-owner"
    STATIC = "static"
    """A row configured at ST-1 (no TTL); it is not kept alive by keepalives."""


@dataclass(frozen=True, slots=True)
class Touch:
    outcome: TouchOutcome
    keepalive_interval: float = 0.0
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class Page:
    records: list[CloudletRecord]
    next_cursor: str | None


class CloudletTable(Protocol):
    """Soft state: rows appear on registration and vanish when their keepalives stop."""

    async def put(self, record: CloudletRecord) -> None:
        """Insert or replace a row; (re)starts its TTL."""

    async def get(self, uuid: CloudletId) -> CloudletRecord | None:
        """The row, or `None` when there is none (or it expired)."""

    async def touch(
        self, uuid: CloudletId, credential_digest: str, load: Load, now: float
    ) -> Touch:
        """A keepalive: if the row exists and `credential_digest` owns it, set its load and
        last update and restart its TTL, all at once (one round trip on Redis).

        A row that is gone stays gone: a keepalive never resurrects one.
        """

    async def remove(self, uuid: CloudletId) -> bool:
        """Delete a row; False if there was none."""

    async def candidates(self, query: CandidateQuery) -> list[CloudletRecord]:
        """Rows worth ranking for one request, found through the indexes."""

    async def page(self, *, cursor: str | None, limit: int) -> Page:
        """Rows in a stable order (by UUID), for operator listings."""

    async def size(self) -> int:
        """Number of live rows."""

    async def expire(self) -> int:
        """Delete rows past their TTL; returns how many. A no-op where the store expires keys."""

    async def ping(self) -> None:
        """Raise if the backend cannot be reached (for `/readyz`)."""

    async def close(self) -> None:
        """Release connections."""
