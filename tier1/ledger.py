"""Which cloudlets hold a device's deployments, so a release reaches every one of them.

Soft state like the table: entries live as long as the recipe's lease, and
losing them only means a release relies on the cloudlet's lease expiry.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol
from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common.errors import UnavailableError
from common.types import AppId, CloudletId


class DeploymentLedger(Protocol):
    async def record(self, app: AppId, key: str, cloudlet: CloudletId, ttl: float) -> None: ...

    async def holders(self, app: AppId, key: str) -> set[CloudletId]: ...

    async def forget(self, app: AppId, key: str) -> None: ...


class MemoryLedger:
    """Bounded: past `max_entries` devices, the least recently deployed are forgotten first."""

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[tuple[AppId, str], dict[CloudletId, float]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    async def record(self, app: AppId, key: str, cloudlet: CloudletId, ttl: float) -> None:
        entry = self._entries.setdefault((app, key), {})
        entry[cloudlet] = self._clock() + ttl
        self._entries.move_to_end((app, key))
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def holders(self, app: AppId, key: str) -> set[CloudletId]:
        now = self._clock()
        entry = self._entries.get((app, key), {})
        return {cloudlet for cloudlet, until in entry.items() if until > now}

    async def forget(self, app: AppId, key: str) -> None:
        self._entries.pop((app, key), None)


class RedisLedger:
    """A sorted set per device: cloudlet uuid scored by its lease end (Redis clock, ms)."""

    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, app: AppId, key: str) -> str:
        return f"{self._prefix}ledger:{app}:{key}"

    async def record(self, app: AppId, key: str, cloudlet: CloudletId, ttl: float) -> None:
        try:
            seconds, micros = await self._redis.time()
            until = seconds * 1000 + micros // 1000 + int(ttl * 1000)
            pipe = self._redis.pipeline(transaction=True)
            pipe.zadd(self._key(app, key), {str(cloudlet): until})
            pipe.pexpire(self._key(app, key), int(ttl * 1000))
            await pipe.execute()
        except RedisError as exc:
            raise UnavailableError("the deployment ledger store failed") from exc

    async def holders(self, app: AppId, key: str) -> set[CloudletId]:
        try:
            seconds, micros = await self._redis.time()
            now = seconds * 1000 + micros // 1000
            members = await self._redis.zrangebyscore(self._key(app, key), now, "+inf")
        except RedisError as exc:
            raise UnavailableError("the deployment ledger store failed") from exc
        return {CloudletId(UUID(_text(member))) for member in members}

    async def forget(self, app: AppId, key: str) -> None:
        try:
            await self._redis.delete(self._key(app, key))
        except RedisError as exc:
            raise UnavailableError("the deployment ledger store failed") from exc


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
