"""The CloudletTable contract, run against both backends (Redis is a real redis-server)."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from common.errors import InvalidRequestError
from tests.harness.redis_server import RedisServer
from tests.tier1.records import cid, make_record
from tier1.netmatch import addr_key
from tier1.records import Load
from tier1.table.interface import CandidateQuery, CloudletTable, Touch, TouchOutcome
from tier1.table.memory import MemoryTable
from tier1.table.redis import RedisTable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class TableUnderTest:
    table: CloudletTable
    clock: FakeClock | None

    async def advance(self, seconds: float) -> None:
        """Let `seconds` pass: on the fake clock for memory, for real for Redis."""
        if self.clock is not None:
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[TableUnderTest]:
    if request.param == "memory":
        clock = FakeClock()
        yield TableUnderTest(MemoryTable(clock=clock), clock)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    table = RedisTable(server.url, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        yield TableUnderTest(table, None)
    finally:
        await table.close()


async def test_put_get_remove(subject: TableUnderTest) -> None:
    table = subject.table
    record = make_record(1, locations=[[40.0, -80.0]])
    await table.put(record)
    assert await table.get(cid(1)) == record
    assert await table.size() == 1
    assert await table.remove(cid(1)) is True
    assert await table.get(cid(1)) is None
    assert await table.remove(cid(1)) is False
    assert await table.size() == 0


async def test_put_replaces_and_reindexes(subject: TableUnderTest) -> None:
    table = subject.table
    await table.put(make_record(1, locations=[[40.0, -80.0]], local_networks=["10.1.0.0/16"]))
    await table.put(make_record(1, locations=[[-33.0, 151.0]], local_networks=["10.2.0.0/16"]))
    assert await table.size() == 1
    near_old = await table.candidates(
        CandidateQuery(client_address=None, client_location=(40.0, -80.0), nearest=1)
    )
    assert [row.locations for row in near_old] == [((-33.0, 151.0),)]
    old_net = addr_key(ipaddress.ip_address("10.1.0.5"))
    matched = await table.candidates(
        CandidateQuery(client_address=old_net, client_location=(0.0, 0.0), nearest=0)
    )
    assert matched == []


async def test_touch_updates_the_owners_row_and_never_resurrects(
    subject: TableUnderTest,
) -> None:
    table = subject.table
    await table.put(dataclasses.replace(make_record(2, ttl=5.0), credential_digest="owner"))
    busier = Load(cpu=0.9)
    touched = await table.touch(cid(2), "owner", busier, 1_900_000_000.0)
    assert touched == Touch(TouchOutcome.TOUCHED, 10.0, 5.0)
    stored = await table.get(cid(2))
    assert stored is not None
    assert stored.load == busier
    assert stored.last_update == 1_900_000_000.0
    assert stored.name == "cloudlet-2"

    assert (
        await table.touch(cid(2), "thief", Load(cpu=0.0), 0.0)
    ).outcome is TouchOutcome.NOT_OWNER
    assert (await table.get(cid(2))) == stored
    await table.remove(cid(2))
    assert (await table.touch(cid(2), "owner", busier, 0.0)).outcome is TouchOutcome.MISSING
    assert await table.get(cid(2)) is None


async def test_rows_without_a_credential_or_a_ttl_are_not_kept_alive(
    subject: TableUnderTest,
) -> None:
    table = subject.table
    await table.put(make_record(6, ttl=5.0))  # a v1 or static row: no credential
    assert (await table.touch(cid(6), "", Load(), 0.0)).outcome is TouchOutcome.NOT_OWNER
    await table.put(dataclasses.replace(make_record(7, ttl=None), credential_digest="owner"))
    assert (await table.touch(cid(7), "owner", Load(), 0.0)).outcome is TouchOutcome.STATIC


async def test_rows_expire_after_their_ttl_and_touch_extends_it(subject: TableUnderTest) -> None:
    table = subject.table
    await table.put(make_record(3, ttl=1.0, locations=[[1.0, 1.0]]))
    await table.put(
        dataclasses.replace(make_record(4, ttl=1.0, locations=[[1.0, 1.1]]), credential_digest="d")
    )
    await table.put(make_record(5, ttl=None, locations=[[1.0, 1.2]]))  # static: never expires
    await subject.advance(0.6)
    assert (await table.touch(cid(4), "d", Load(), 0.0)).outcome is TouchOutcome.TOUCHED
    await subject.advance(0.6)
    await table.expire()
    assert await table.get(cid(3)) is None
    assert await table.get(cid(4)) is not None
    assert await table.get(cid(5)) is not None
    assert await table.size() == 2
    found = await table.candidates(
        CandidateQuery(client_address=None, client_location=(1.0, 1.0), nearest=10)
    )
    assert sorted(row.name for row in found) == ["cloudlet-4", "cloudlet-5"]


async def test_candidates_come_from_local_networks_and_proximity(
    subject: TableUnderTest,
) -> None:
    table = subject.table
    await table.put(make_record(10, locations=[[40.44, -79.94]]))  # Pittsburgh
    await table.put(make_record(11, locations=[[40.71, -74.0]]))  # New York
    await table.put(make_record(12, locations=[[51.5, -0.12]]))  # London
    await table.put(make_record(13, locations=[[35.7, 139.7]], local_networks=["2001:db8::/32"]))
    client = addr_key(ipaddress.ip_address("2001:db8::7"))
    found = await table.candidates(
        CandidateQuery(client_address=client, client_location=(40.4, -80.0), nearest=2)
    )
    assert [row.name for row in found] == ["cloudlet-13", "cloudlet-10", "cloudlet-11"]


async def test_gpu_queries_find_the_nearest_gpu_cloudlet_however_far(
    subject: TableUnderTest,
) -> None:
    table = subject.table
    for number in range(20, 30):
        await table.put(make_record(number, locations=[[40.0 + number / 100, -80.0]]))
    await table.put(
        make_record(
            31, locations=[[-33.0, 151.0]], hardware={"gpus": [{"model": "A100", "count": 1}]}
        )
    )
    found = await table.candidates(
        CandidateQuery(client_address=None, client_location=(40.0, -80.0), nearest=3, gpu_only=True)
    )
    assert [row.name for row in found] == ["cloudlet-31"]


async def test_without_a_location_a_bounded_sample_stands_in(subject: TableUnderTest) -> None:
    table = subject.table
    for number in range(40, 60):
        await table.put(make_record(number))
    found = await table.candidates(
        CandidateQuery(client_address=None, client_location=None, sample_without_location=5)
    )
    assert len(found) == 5
    assert len({row.uuid for row in found}) == 5


async def test_listing_pages_through_every_row_once(subject: TableUnderTest) -> None:
    table = subject.table
    numbers = set(range(100, 137))
    for number in numbers:
        await table.put(make_record(number))
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    for _ in range(100):  # bounded: 37 rows in pages of 5 need far fewer
        page = await table.page(cursor=cursor, limit=5)
        seen.extend(row.uuid for row in page.records)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(cid(number) for number in numbers)


async def test_a_forged_cursor_is_a_400(subject: TableUnderTest) -> None:
    with pytest.raises(InvalidRequestError):
        await subject.table.page(cursor="../etc", limit=5)
