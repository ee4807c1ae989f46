"""The Redis/Valkey CloudletTable: several ST-1 replicas share one table; key TTL is the expiry.

Layout, under a configurable prefix:

    row:<uuid>     a hash: static (JSON), load (JSON), last_update, digest, interval,
                   ttl; the key carries the row's TTL, and gone means expired
    idx:<uuid>     where the row is indexed (no TTL), so a sweep can unindex it
    rows           set of every indexed uuid (listing, sampling, size)
    geo, geo:gpu   GEO sets of `<uuid>|<n>` members, one per location
    net:<v>:<len>:<network>   set of uuids listing that local network
    netlens        set of `<v>:<len>` prefix lengths in use
    deadlines      sorted set: uuid by expiry time in ms (Redis clock), for the sweep

A row that expired is invisible at once (its `row:` key is gone); `expire()`
then removes its index entries. Any replica may sweep; the sweep is idempotent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from common.errors import InvalidRequestError, UnavailableError
from common.types import CloudletId
from tier1.netmatch import masked
from tier1.records import CloudletRecord, Load, Location
from tier1.table.codec import decode_record, encode_load, encode_static
from tier1.table.interface import CandidateQuery, Page, Touch, TouchOutcome

# Redis GEO cannot store latitudes beyond this (Web Mercator); the index clamps, the
# record keeps the true location, and distances are computed from the record.
_GEO_MAX_LATITUDE = 85.05112878
_HALF_CIRCUMFERENCE_KM = 20016.0
MAX_LOCAL_MATCHES = 256
_SWEEP_BATCH = 1000


class RedisTable:
    """A CloudletTable in Redis; every call has a socket timeout and a bounded retry."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "sinfonia:tier1:",
        socket_timeout: float = 2.0,
        retries: int = 2,
    ) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            decode_responses=True,
        )
        self._prefix = prefix
        self._touch = self._redis.register_script(_TOUCH_SCRIPT)

    @property
    def client(self) -> aioredis.Redis:
        """The connection pool, shared with the deployment ledger."""
        return self._redis

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    # -- writes ---------------------------------------------------------------

    async def put(self, record: CloudletRecord) -> None:
        uuid = str(record.uuid)
        async with _translated_errors():
            old_index = await self._redis.get(self._key("idx", uuid))
            pipe = self._redis.pipeline(transaction=True)
            if old_index is not None:
                self._unindex(pipe, uuid, json.loads(old_index))
            index = {
                "locations": record.locations,
                "local_networks": record.local_networks,
                "gpu": bool(record.gpus),
            }
            self._index(pipe, uuid, index)
            row = self._key("row", uuid)
            pipe.delete(row)
            pipe.hset(row, mapping=_row_fields(record))
            ttl_ms = _ttl_ms(record)
            if ttl_ms is not None:
                pipe.pexpire(row, ttl_ms)
                pipe.zadd(self._key("deadlines"), {uuid: _now_ms() + ttl_ms})
            else:
                pipe.zrem(self._key("deadlines"), uuid)
            pipe.set(self._key("idx", uuid), json.dumps(index))
            await pipe.execute()

    async def touch(
        self, uuid: CloudletId, credential_digest: str, load: Load, now: float
    ) -> Touch:
        async with _translated_errors():
            reply = await self._touch(
                keys=[self._key("row", str(uuid)), self._key("deadlines")],
                args=[credential_digest, encode_load(load), repr(now), str(uuid), _now_ms()],
            )
        outcome = _TOUCH_OUTCOMES[int(reply[0])]
        if outcome is TouchOutcome.MISSING or outcome is TouchOutcome.NOT_OWNER:
            return Touch(outcome)
        ttl = _text(reply[2])
        return Touch(outcome, float(_text(reply[1])), float(ttl) if ttl else None)

    async def remove(self, uuid: CloudletId) -> bool:
        async with _translated_errors():
            return await self._forget(str(uuid))

    async def expire(self) -> int:
        """Unindex rows whose `row:` key has expired; returns how many."""
        async with _translated_errors():
            seconds, micros = await self._redis.time()
            now_ms = seconds * 1000 + micros // 1000
            due = await self._redis.zrangebyscore(
                self._key("deadlines"), "-inf", now_ms, start=0, num=_SWEEP_BATCH
            )
            uuids = [_text(member) for member in due]
            pipe = self._redis.pipeline(transaction=False)
            for uuid in uuids:
                pipe.exists(self._key("row", uuid))
            alive = await pipe.execute()
            swept = 0
            for uuid, exists in zip(uuids, alive, strict=True):
                if not exists:  # else a keepalive moved its deadline after we read it
                    swept += await self._forget(uuid)
            return swept

    # -- reads ----------------------------------------------------------------

    async def get(self, uuid: CloudletId) -> CloudletRecord | None:
        async with _translated_errors():
            records = await self._load([str(uuid)])
        return records[0] if records else None

    async def candidates(self, query: CandidateQuery) -> list[CloudletRecord]:
        async with _translated_errors():
            chosen: dict[str, None] = {}
            if query.client_address is not None:
                for uuid in await self._local_matches(query):
                    chosen[uuid] = None
            if query.client_location is not None:
                for uuid in await self._nearest(query):
                    chosen[uuid] = None
            else:
                members = await self._redis.srandmember(
                    self._key("rows"), query.sample_without_location
                )
                for member in members or []:
                    chosen[_text(member)] = None
            return await self._load(chosen)

    async def page(self, *, cursor: str | None, limit: int) -> Page:
        start = _parse_cursor(cursor)
        async with _translated_errors():
            next_cursor, members = await self._redis.sscan(
                self._key("rows"), cursor=start, count=limit
            )
            records = await self._load(_text(member) for member in members)
        return Page(records=records, next_cursor=str(next_cursor) if next_cursor else None)

    async def size(self) -> int:
        async with _translated_errors():
            return int(await self._redis.scard(self._key("rows")))

    async def ping(self) -> None:
        async with _translated_errors():
            await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    # -- internals ------------------------------------------------------------

    def _index(self, pipe: aioredis.client.Pipeline, uuid: str, index: dict[str, object]) -> None:
        locations: list[Location] = list(index["locations"])  # type: ignore[call-overload]
        for number, (lat, lon) in enumerate(locations):
            member = f"{uuid}|{number}"
            clamped = max(-_GEO_MAX_LATITUDE, min(_GEO_MAX_LATITUDE, lat))
            pipe.geoadd(self._key("geo"), (lon, clamped, member))
            if index["gpu"]:
                pipe.geoadd(self._key("geo", "gpu"), (lon, clamped, member))
        for version, value, prefixlen in index["local_networks"]:  # type: ignore[attr-defined]
            pipe.sadd(self._key("net", str(version), str(prefixlen), str(value)), uuid)
            pipe.sadd(self._key("netlens"), f"{version}:{prefixlen}")
        pipe.sadd(self._key("rows"), uuid)

    def _unindex(self, pipe: aioredis.client.Pipeline, uuid: str, index: dict[str, object]) -> None:
        members = [f"{uuid}|{number}" for number in range(len(index["locations"]))]  # type: ignore[arg-type]
        if members:
            pipe.zrem(self._key("geo"), *members)
            pipe.zrem(self._key("geo", "gpu"), *members)
        for version, value, prefixlen in index["local_networks"]:  # type: ignore[attr-defined]
            pipe.srem(self._key("net", str(version), str(prefixlen), str(value)), uuid)
        pipe.srem(self._key("rows"), uuid)

    async def _forget(self, uuid: str) -> bool:
        raw_index = await self._redis.get(self._key("idx", uuid))
        pipe = self._redis.pipeline(transaction=True)
        if raw_index is not None:
            self._unindex(pipe, uuid, json.loads(raw_index))
        pipe.delete(self._key("row", uuid), self._key("idx", uuid))
        pipe.zrem(self._key("deadlines"), uuid)
        results = await pipe.execute()
        return raw_index is not None or bool(results[-2])

    async def _local_matches(self, query: CandidateQuery) -> list[str]:
        assert query.client_address is not None
        version = query.client_address[0]
        lengths = sorted(
            (
                int(_text(entry).split(":")[1])
                for entry in await self._redis.smembers(self._key("netlens"))
                if _text(entry).startswith(f"{version}:")
            ),
            reverse=True,
        )
        pipe = self._redis.pipeline(transaction=False)
        for prefixlen in lengths:
            network = masked(query.client_address, prefixlen)
            pipe.smembers(self._key("net", str(version), str(prefixlen), str(network)))
        found: dict[str, None] = {}
        for members in await pipe.execute():
            for member in members:
                found[_text(member)] = None
                if len(found) >= MAX_LOCAL_MATCHES:
                    return list(found)
        return list(found)

    async def _nearest(self, query: CandidateQuery) -> list[str]:
        assert query.client_location is not None
        lat, lon = query.client_location
        lat = max(-_GEO_MAX_LATITUDE, min(_GEO_MAX_LATITUDE, lat))
        key = self._key("geo", "gpu") if query.gpu_only else self._key("geo")
        radius = 100.0
        while True:
            members = await self._redis.geosearch(
                key,
                longitude=lon,
                latitude=lat,
                radius=radius,
                unit="km",
                sort="ASC",
                count=query.nearest * 2,
            )
            found: dict[str, None] = {}
            for member in members:
                found[_text(member).split("|", 1)[0]] = None
            if len(found) >= query.nearest or radius >= _HALF_CIRCUMFERENCE_KM:
                return list(found)[: query.nearest]
            radius = min(radius * 4, _HALF_CIRCUMFERENCE_KM)

    async def _load(self, uuids: Iterable[str]) -> list[CloudletRecord]:
        pipe = self._redis.pipeline(transaction=False)
        for uuid in uuids:
            pipe.hmget(self._key("row", uuid), ["static", "load", "last_update"])
        rows = await pipe.execute()
        return [decode_record(*row) for row in rows if row and row[0] is not None]


# One round trip per keepalive: check the owner, set the load, restart the TTL.
# (The digest compare is not constant-time; it compares digests, never the secret.)
_TOUCH_SCRIPT = """
local row = redis.call('HMGET', KEYS[1], 'digest', 'interval', 'ttl')
if not row[1] then return {0} end
if row[1] == '' or row[1] ~= ARGV[1] then return {1} end
if row[3] == '' then return {2, row[2], ''} end
redis.call('HSET', KEYS[1], 'load', ARGV[2], 'last_update', ARGV[3])
local ttl_ms = math.max(1, math.floor(tonumber(row[3]) * 1000 + 0.5))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
redis.call('ZADD', KEYS[2], tonumber(ARGV[5]) + ttl_ms, ARGV[4])
return {3, row[2], row[3]}
"""
_TOUCH_OUTCOMES = (
    TouchOutcome.MISSING,
    TouchOutcome.NOT_OWNER,
    TouchOutcome.STATIC,
    TouchOutcome.TOUCHED,
)


def _row_fields(record: CloudletRecord) -> dict[FieldT, EncodableT]:
    return {
        "static": encode_static(record),
        "load": encode_load(record.load),
        "last_update": repr(record.last_update),
        "digest": record.credential_digest,
        "interval": repr(record.keepalive_interval),
        "ttl": "" if record.ttl is None else repr(record.ttl),
    }


def _now_ms() -> int:
    """Deadlines only schedule the sweep, which checks each row's key itself, so a
    replica's own clock is good enough here."""
    return int(time.time() * 1000)


def _ttl_ms(record: CloudletRecord) -> int | None:
    return None if record.ttl is None else max(1, round(record.ttl * 1000))


def _parse_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 20:
        raise InvalidRequestError("the cursor is not one this listing issued")
    return int(cursor)


class _translated_errors:  # noqa: N801 - used as a context manager, reads like one
    """Turn Redis failures into a retryable 503 at this one boundary."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, RedisError):
            raise UnavailableError(f"the CloudletTable store failed: {type(exc).__name__}") from exc


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
