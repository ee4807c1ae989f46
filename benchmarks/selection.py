"""Times ST-1's default selection over N synthetic cloudlets, against a linear scan.

    python -m benchmarks.selection --cloudlets 1000000

Prints one JSON line: cloudlets, requests, p50_ms, p99_ms (indexed selection,
the whole upcall: candidate lookup, filters, scores), linear_p50_ms (the
original's approach: compute every cloudlet's distance, sort), speedup and
rss_mb (resident set after building the table).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import time
import uuid
from ipaddress import IPv4Address

from common.geo import haversine_km
from common.recipe import Recipe
from common.types import AppId, CloudletId
from tier1.metrics import Tier1Metrics
from tier1.records import CloudletRecord, Load
from tier1.selection.interface import ClientContext, SelectionRequest
from tier1.selection.registry import Registry
from tier1.selection.selector import Selector
from tier1.settings import Tier1Settings
from tier1.table.memory import MemoryTable

EVERYONE = ((4, 0, 0), (6, 0, 0))
NOW = time.time()
"""The benchmark's frozen clock: building a large table must not make its rows stale."""
RECIPE = Recipe.model_validate(
    {"uuid": str(uuid.UUID(int=1)), "name": "bench", "local": {"command": ["true"]}}
)


def random_location(rng: random.Random) -> tuple[float, float]:
    """Uniform over the sphere."""
    return (math.degrees(math.asin(rng.uniform(-1.0, 1.0))), rng.uniform(-180.0, 180.0))


def synthetic_cloudlet(number: int, rng: random.Random) -> CloudletRecord:
    network = rng.getrandbits(24) << 8
    gpus = (("A100", 1),) if rng.random() < 0.05 else ()
    return CloudletRecord(
        uuid=CloudletId(uuid.UUID(int=number + 1)),
        name=f"cloudlet-{number}",
        endpoint=f"http://10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}:5001/",
        public_key="yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
        owner=None,
        locations=(random_location(rng),),
        local_networks=((4, network, 24),),
        accepted_clients=EVERYONE,
        rejected_clients=(),
        cpu_cores=64,
        memory_bytes=256 << 30,
        gpus=gpus,
        network_bytes_per_second=1.25e9,
        load=Load(cpu=rng.random() * 0.9, memory=rng.random() * 0.9),
        trust_level=0,
        operator=None,
        last_update=NOW,
        keepalive_interval=10.0,
        ttl=30.0,
    )


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def linear_nearest(
    records: list[CloudletRecord], location: tuple[float, float], k: int
) -> list[CloudletRecord]:
    """What the original did: the distance of every cloudlet, then a sort."""
    scored = [
        (min(haversine_km(location[0], location[1], lat, lon) for lat, lon in r.locations), r)
        for r in records
    ]
    scored.sort(key=lambda pair: pair[0])
    return [record for _, record in scored[:k]]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(cloudlets: int, requests: int, linear_requests: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    table = MemoryTable(rng=random.Random(seed))
    records = []
    started = time.perf_counter()
    for number in range(cloudlets):
        record = synthetic_cloudlet(number, rng)
        records.append(record)
        await table.put(record)
    build_seconds = time.perf_counter() - started
    resident = rss_mb()

    selector = Selector(
        table=table,
        registry=Registry.with_entry_points(),
        configured_pipeline=None,
        nearest=Tier1Settings().table.nearest,
        metrics=Tier1Metrics.create(),
        rng=random.Random(seed),
    )
    clients = [
        ClientContext(address=IPv4Address(rng.getrandbits(32)), location=random_location(rng))
        for _ in range(requests)
    ]
    timings = []
    for client in clients:
        request = SelectionRequest(app=AppId(RECIPE.uuid), client=client, recipe=RECIPE, now=NOW)
        begin = time.perf_counter()
        result = await selector.select(request)
        timings.append((time.perf_counter() - begin) * 1000)
        assert result.ranked
    linear = []
    for client in clients[:linear_requests]:
        assert client.location is not None
        begin = time.perf_counter()
        linear_nearest(records, client.location, 3)
        linear.append((time.perf_counter() - begin) * 1000)
    p50 = statistics.median(timings)
    linear_p50 = statistics.median(linear)
    return {
        "cloudlets": cloudlets,
        "requests": requests,
        "p50_ms": round(p50, 3),
        "p99_ms": round(percentile(timings, 0.99), 3),
        "linear_p50_ms": round(linear_p50, 3),
        "speedup": round(linear_p50 / p50, 1),
        "rss_mb": round(resident, 1),
        "build_seconds": round(build_seconds, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloudlets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--linear-requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    figures = asyncio.run(
        main(arguments.cloudlets, arguments.requests, arguments.linear_requests, arguments.seed)
    )
    print(json.dumps(figures))
