"""Drives keepalives over real HTTP at a running ST-1 and reports how many it absorbs.

    python -m benchmarks.keepalive --cloudlets 1000 --seconds 10 [--table redis]

Starts `sinfonia-tier1 serve` (one process) with the memory table, or with
Redis (`--table redis` starts a local redis-server; `--table redis://...`
uses yours), registers N cloudlets, then sends authenticated keepalives,
each for a different cloudlet in turn, for S seconds. The load comes from
`wrk` (Debian package `wrk`) when installed, which leaves ST-1 the CPU it
would have in production; otherwise from Python (httpx) processes, which
compete with ST-1 for the same cores and so understate it. Prints one JSON
line: keepalives_per_s, errors, p50_ms/p99_ms (wrk only), generator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
BODY = json.dumps({"metrics": {"cpu_utilization": 0.5, "memory_utilization": 0.25}})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready within {timeout}s")


@contextmanager
def running(
    argv: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def register(url: str, count: int) -> list[tuple[str, str]]:
    """Register `count` cloudlets; returns (uuid, credential) pairs."""
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=10.0, limits=limits) as client:

        async def one(number: int) -> tuple[str, str]:
            cloudlet = str(uuid.UUID(int=number + 1))
            body = {
                "cloudlet": {
                    "uuid": cloudlet,
                    "name": f"bench-{number}",
                    "endpoint": "http://127.0.0.1:9/",
                    "public_key": KEY,
                    "locations": [[(number % 170) - 85, (number % 360) - 180]],
                },
                "keepalive_interval": 60,
            }
            response = await client.post("/api/v2/cloudlets", json=body)
            response.raise_for_status()
            return cloudlet, response.json()["credential"]

        pairs: list[tuple[str, str]] = []
        for start in range(0, count, 256):
            pairs += await asyncio.gather(*(one(n) for n in range(start, min(count, start + 256))))
        return pairs


WRK_SCRIPT = """
local rows = {}
for line in io.lines("%(rows)s") do
  local id, credential = line:match("([^ ]+) ([^ ]+)")
  rows[#rows + 1] = {id, credential}
end
local index = 0
local body = [[%(body)s]]
request = function()
  index = index %% #rows + 1
  local row = rows[index]
  return wrk.format("PUT", "/api/v2/cloudlets/" .. row[1] .. "/keepalive",
    {["Authorization"] = "Bearer " .. row[2], ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %%d %%d %%f %%f %%f\\n", summary.requests, errors,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def drive_with_wrk(
    url: str, pairs: list[tuple[str, str]], seconds: float, workdir: Path
) -> dict[str, Any]:
    rows = workdir / "rows.txt"
    rows.write_text("".join(f"{cloudlet} {credential}\n" for cloudlet, credential in pairs))
    script = workdir / "keepalive.lua"
    script.write_text(WRK_SCRIPT % {"rows": rows, "body": BODY})
    result = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{max(1, round(seconds))}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))
    _, requests, errors, duration, p50, p99 = line.split()
    return {
        "keepalives_per_s": round((int(requests) - int(errors)) / float(duration)),
        "errors": int(errors),
        "p50_ms": round(float(p50), 2),
        "p99_ms": round(float(p99), 2),
        "generator": "wrk",
    }


def _python_worker(url: str, pairs: list[tuple[str, str]], seconds: float, queue: Any) -> None:
    async def run() -> tuple[int, int]:
        ok = errors = 0
        stop = time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:

            async def loop(offset: int) -> None:
                nonlocal ok, errors
                index = offset
                while time.monotonic() < stop:
                    cloudlet, credential = pairs[index % len(pairs)]
                    index += 16
                    response = await client.put(
                        f"/api/v2/cloudlets/{cloudlet}/keepalive",
                        content=BODY,
                        headers={
                            "Authorization": f"Bearer {credential}",
                            "Content-Type": "application/json",
                        },
                    )
                    if response.status_code == 200:
                        ok += 1
                    else:
                        errors += 1

            await asyncio.gather(*(loop(offset) for offset in range(16)))
        return ok, errors

    queue.put(asyncio.run(run()))


def drive_with_python(url: str, pairs: list[tuple[str, str]], seconds: float) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_python_worker, args=(url, pairs[n::2], seconds, queue))
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    ok = sum(result[0] for result in results)
    return {
        "keepalives_per_s": round(ok / seconds),
        "errors": sum(result[1] for result in results),
        "generator": "python",
    }


def main(cloudlets: int, seconds: float, table: str) -> dict[str, Any]:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if table == "redis":
            redis_port = free_port()
            argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
            stack.enter_context(running([*argv, "--save", "", "--appendonly", "no"]))
            time.sleep(0.3)
            table = f"redis://127.0.0.1:{redis_port}/0"
        port = free_port()
        script = str(Path(sys.executable).with_name("sinfonia-tier1"))
        process = stack.enter_context(
            running(
                [script, "serve", "--port", str(port), "--log-level", "warning", "--table", table],
                env={"SINFONIA_TIER1_TABLE__PREFIX": f"bench-{uuid.uuid4().hex}:"},
            )
        )
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process)
        pairs = asyncio.run(register(url, cloudlets))
        if shutil.which("wrk"):
            figures = drive_with_wrk(url, pairs, seconds, workdir)
        else:
            figures = drive_with_python(url, pairs, seconds)
        return {"cloudlets": cloudlets, "seconds": seconds, "table": table.split(":")[0], **figures}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloudlets", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--table", default="memory://", help="memory://, redis, or redis://...")
    arguments = parser.parse_args()
    print(json.dumps(main(arguments.cloudlets, arguments.seconds, arguments.table)))
