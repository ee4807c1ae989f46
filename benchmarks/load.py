"""Soaks one ST-1 with 10^5 cloudlets keeping alive while devices deploy; one JSON line.

    python -m benchmarks.load [--cloudlets 100000] [--seconds 30] [--interval 60]
                              [--deploy-rate 50] [--warmup 15] [--table memory://|redis]

Starts `sinfonia-tier1 serve` (the memory table, or Redis: `--table redis`
starts a local redis-server) and one fast stand-in ST-2 process that answers
every deploy at once for whichever cloudlet it is asked as (each registered
cloudlet's endpoint names it). Registers the cloudlets, each asking for
`--interval` seconds between keepalives, then for `--seconds` sends each
cloudlet's keepalives at the interval ST-1 negotiated (spread evenly, as
cloudlets that registered at different times would) while devices ask for
deployments at `--deploy-rate` a second, each from its own place. The same
traffic runs `--warmup` seconds first, unmeasured: the burst of 10^5
registrations leaves Python's collector one full collection (about 0.4 s)
due, which a table that grew over days would have had long before. The load
is open-loop (a slow answer does not slow the senders down), so latencies are
what a device would see. Prints: requests, errors, deploys, deploy_p50_ms,
deploy_p99_ms, keepalives_per_s, keepalive_p99_ms, lost_rows (registered
rows missing at the end) and the settings. The load comes from this process
over raw HTTP/1.1 keep-alive connections (wrk drives a closed loop at full
speed, which cannot hold a rate, so it is not used here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.keepalive import KEY, free_port, running, wait_ready

APP = "00000000-0000-4000-8000-00000000be01"
RECIPE = f"uuid: {APP}\nname: load\nlocal:\n  command: ['true']\n"
CONNECTIONS = 32
"""Keep-alive connections per kind of traffic (keepalives, deploys)."""


# -- the stand-in ST-2 -----------------------------------------------------------------------

DEPLOYMENT = (
    '{"cloudlet":"%s","app":"%s","client_public_key":"%s","name":"d%s","status":"Deployed",'
    '"created":"2026-01-01T00:00:00Z","tunnel":{"public_key":"%s","endpoint":"127.0.0.1:51820",'
    '"allowed_ips":["10.43.0.0/16"],"address":["10.5.0.2/32"]}}'
)


async def standin_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """`POST /c/<uuid>/api/v2/deployments` → a Deployment of cloudlet <uuid>, at once."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    cloudlet = scope["path"].split("/")[2]
    request = json.loads(body or b"{}")
    key = request.get("client_public_key", KEY)
    payload = DEPLOYMENT % (cloudlet, request.get("app", APP), key, cloudlet[:8], KEY)
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload.encode()})


def serve_standin(port: int) -> None:
    import uvicorn

    uvicorn.run(standin_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- a small HTTP/1.1 client: pre-built requests over keep-alive connections ------------------


class Connection:
    """One keep-alive connection; requests on it go one at a time."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        assert self._reader is not None
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        """Close the socket; the next request opens a new one."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Pool:
    """At most `size` requests in flight; the rest wait for a free connection."""

    def __init__(self, port: int, size: int) -> None:
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        self._all = [Connection(port) for _ in range(size)]
        for connection in self._all:
            self._idle.put_nowait(connection)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        connection = await self._idle.get()
        try:
            return await connection.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            connection.close()
            return 0, b""
        finally:
            self._idle.put_nowait(connection)

    def close(self) -> None:
        for connection in self._all:
            connection.close()


def http_request(method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    keepalives: int = 0
    keepalive_errors: int = 0
    deploys: int = 0
    deploy_errors: int = 0
    keepalive_ms: list[float] = field(default_factory=list)
    deploy_ms: list[float] = field(default_factory=list)
    errors_by_status: dict[int, int] = field(default_factory=dict)


async def register(pool: Pool, count: int, interval: float, standin: int) -> list[bytes]:
    """Register `count` cloudlets; returns each one's keepalive request, ready to send."""
    rng = random.Random(1)
    requests: list[bytes] = [b""] * count

    async def one(number: int) -> None:
        cloudlet = str(uuid.UUID(int=number + 1))
        body = {
            "cloudlet": {
                "uuid": cloudlet,
                "name": f"load-{number}",
                "endpoint": f"http://127.0.0.1:{standin}/c/{cloudlet}",
                "public_key": KEY,
                "locations": [[rng.uniform(-60, 70), rng.uniform(-180, 180)]],
            },
            "keepalive_interval": interval,
        }
        status, answer = await pool.request(
            http_request("POST", "/api/v2/cloudlets", json.dumps(body).encode())
        )
        if status != 201:
            raise RuntimeError(f"registration {number} answered {status}: {answer[:200]!r}")
        credential = json.loads(answer)["credential"]
        metrics = json.dumps({"metrics": {"cpu_utilization": 0.3, "memory_utilization": 0.4}})
        requests[number] = http_request(
            "PUT",
            f"/api/v2/cloudlets/{cloudlet}/keepalive",
            metrics.encode(),
            f"Authorization: Bearer {credential}\r\n",
        )

    for start in range(0, count, 512):
        await asyncio.gather(*(one(n) for n in range(start, min(count, start + 512))))
    return requests


async def paced(
    rate: float, seconds: float, send: Callable[[int], Coroutine[Any, Any, None]], limit: int
) -> None:
    """Call `send(n)` `rate` times a second for `seconds` (open loop), at most `limit` pending."""
    started = time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    sent = 0
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int((time.monotonic() - started) * rate) + 1)
        while sent < due:
            if len(pending) >= limit:
                break  # the target cannot keep up: count it as late, not as a queue
            task = asyncio.create_task(send(sent))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        else:
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
            continue
        await asyncio.sleep(0.001)
    if pending:
        await asyncio.wait(pending, timeout=30)


async def drive(
    port: int, keepalives: list[bytes], interval: float, seconds: float, deploy_rate: float
) -> Tally:
    tally = Tally()
    rng = random.Random(2)
    keepalive_pool = Pool(port, CONNECTIONS)
    deploy_pool = Pool(port, CONNECTIONS)
    order = list(range(len(keepalives)))
    rng.shuffle(order)

    async def keepalive(n: int) -> None:
        began = time.perf_counter()
        status, _ = await keepalive_pool.request(keepalives[order[n % len(order)]])
        tally.keepalive_ms.append((time.perf_counter() - began) * 1000)
        tally.keepalives += 1
        if status != 200:
            tally.keepalive_errors += 1
            tally.errors_by_status[status] = tally.errors_by_status.get(status, 0) + 1

    async def deploy(n: int) -> None:
        body = {
            "app": APP,
            "client_public_key": KEY,
            "device": {"location": [rng.uniform(-60, 70), rng.uniform(-180, 180)]},
        }
        began = time.perf_counter()
        status, _ = await deploy_pool.request(
            http_request("POST", "/api/v2/deploy", json.dumps(body).encode())
        )
        tally.deploy_ms.append((time.perf_counter() - began) * 1000)
        tally.deploys += 1
        if status != 200:
            tally.deploy_errors += 1
            tally.errors_by_status[status] = tally.errors_by_status.get(status, 0) + 1

    try:
        await asyncio.gather(
            paced(len(keepalives) / interval, seconds, keepalive, 4 * CONNECTIONS),
            paced(deploy_rate, seconds, deploy, 4 * CONNECTIONS),
        )
    finally:
        keepalive_pool.close()
        deploy_pool.close()
    return tally


async def count_rows(port: int) -> int:
    pool = Pool(port, 1)
    try:
        status, body = await pool.request(http_request("GET", "/metrics"))
    finally:
        pool.close()
    for line in body.decode().splitlines():
        if line.startswith("sinfonia_tier1_cloudlets "):
            return int(float(line.split()[1]))
    raise RuntimeError(f"no row count in /metrics ({status})")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def run(
    port: int,
    standin: int,
    cloudlets: int,
    interval: float,
    seconds: float,
    rate: float,
    warmup: float,
) -> dict[str, Any]:
    pool = Pool(port, 64)
    try:
        began = time.monotonic()
        keepalives = await register(pool, cloudlets, interval, standin)
        registered_in = time.monotonic() - began
    finally:
        pool.close()
    # ST-1 sweeps rows (and updates its row count) every second.
    await asyncio.sleep(1.5)
    before = await count_rows(port)
    if warmup > 0:
        await drive(port, keepalives, interval, warmup, rate)
    began = time.monotonic()
    tally = await drive(port, keepalives, interval, seconds, rate)
    took = time.monotonic() - began
    await asyncio.sleep(1.5)
    after = await count_rows(port)
    return {
        "cloudlets": cloudlets,
        "seconds": seconds,
        "interval_s": interval,
        "deploy_rate": rate,
        "warmup_s": warmup,
        "register_s": round(registered_in, 1),
        "requests": tally.keepalives + tally.deploys,
        "errors": tally.keepalive_errors + tally.deploy_errors,
        "errors_by_status": tally.errors_by_status,
        "deploys": tally.deploys,
        "deploy_p50_ms": round(statistics.median(tally.deploy_ms or [0.0]), 2),
        "deploy_p99_ms": round(percentile(tally.deploy_ms, 0.99), 2),
        "keepalives_per_s": round(tally.keepalives / took),
        "keepalive_p99_ms": round(percentile(tally.keepalive_ms, 0.99), 2),
        "rows_before": before,
        "lost_rows": cloudlets - after,
    }


def main(
    cloudlets: int,
    seconds: float,
    interval: float,
    rate: float,
    table: str,
    warmup: float = 15.0,
) -> dict[str, Any]:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (workdir / "recipes").mkdir()
        (workdir / "recipes" / f"{APP}.yaml").write_text(RECIPE)
        if table == "redis":
            redis_port = free_port()
            argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
            stack.enter_context(running([*argv, "--save", "", "--appendonly", "no"]))
            time.sleep(0.3)
            table = f"redis://127.0.0.1:{redis_port}/0"
        standin = free_port()
        context = multiprocessing.get_context("spawn")
        server = context.Process(target=serve_standin, args=(standin,), daemon=True)
        server.start()
        stack.callback(server.join, 10)
        stack.callback(server.terminate)
        port = free_port()
        script = str(Path(sys.executable).with_name("sinfonia-tier1"))
        argv = [
            script, "serve", "--port", str(port), "--log-level", "warning",
            "--table", table, "--recipes", str(workdir / "recipes"),
        ]  # fmt: skip
        process = stack.enter_context(
            running(argv, env={"SINFONIA_TIER1_TABLE__PREFIX": f"load-{uuid.uuid4().hex}:"})
        )
        wait_ready(f"http://127.0.0.1:{port}", process)
        figures = asyncio.run(run(port, standin, cloudlets, interval, seconds, rate, warmup))
        return {"table": table.split(":")[0], **figures}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloudlets", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--interval", type=float, default=60.0, help="keepalive interval the cloudlets ask for"
    )
    parser.add_argument("--deploy-rate", type=float, default=50.0, help="deploys a second")
    parser.add_argument("--table", default="memory://", help="memory://, redis, or redis://...")
    parser.add_argument("--warmup", type=float, default=15.0, help="unmeasured seconds first")
    arguments = parser.parse_args()
    print(
        json.dumps(
            main(
                arguments.cloudlets,
                arguments.seconds,
                arguments.interval,
                arguments.deploy_rate,
                arguments.table,
                arguments.warmup,
            )
        )
    )
