"""A flood from one client against the real `sinfonia-tier1` process: that client gets 429s,
another client (another loopback address) is served all the while, and ST-1 stays healthy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.harness.processes import free_port
from tests.reliability.faults.services import Services

FLOOD = 400
BURST = 20


async def _flood(url: str) -> tuple[list[int], list[int]]:
    flooder = httpx.AsyncClient(
        base_url=url,
        transport=httpx.AsyncHTTPTransport(local_address="127.0.0.1"),
        timeout=10,
        trust_env=False,
        limits=httpx.Limits(max_connections=16),
    )
    bystander = httpx.AsyncClient(
        base_url=url,
        transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"),
        timeout=10,
        trust_env=False,
    )
    async with flooder, bystander:

        async def calm() -> list[int]:
            statuses = []
            for _ in range(10):
                statuses.append((await bystander.get("/api/v2/cloudlets")).status_code)
                await asyncio.sleep(0.05)
            return statuses

        flood = asyncio.gather(*(flooder.get("/api/v2/cloudlets") for _ in range(FLOOD)))
        flooded, calm_statuses = await asyncio.gather(flood, calm())
        return [response.status_code for response in flooded], calm_statuses


def test_a_flooding_client_gets_429s_and_nobody_else_does(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "SINFONIA_TIER1_RATE_LIMIT__EXEMPT_NETWORKS": "[]",
        "SINFONIA_TIER1_RATE_LIMIT__REQUESTS_PER_SECOND": "10",
        "SINFONIA_TIER1_RATE_LIMIT__BURST": str(BURST),
    }
    services.tier1(port, env)
    url = f"http://127.0.0.1:{port}"
    flooded, calm = asyncio.run(_flood(url))
    assert set(flooded) <= {200, 429}
    assert flooded.count(200) >= BURST
    assert flooded.count(429) >= FLOOD // 2
    assert calm == [200] * len(calm)
    assert httpx.get(f"{url}/readyz", timeout=5, trust_env=False).status_code == 200
