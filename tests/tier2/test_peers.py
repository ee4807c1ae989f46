"""Peers by device key: shared by a key's deployments, lingering a moment after the last."""

from __future__ import annotations

import asyncio
import ipaddress

from tier2.addresses import AddressPool
from tier2.peers import PeerTable
from tier2.tunnel.interface import ConfigOnlyGateway

KEY = "A" * 43 + "="
OTHER = "B" * 42 + "A="


def _table(linger: float) -> PeerTable:
    pool = AddressPool(ipaddress.ip_network("10.251.0.0/24"))
    return PeerTable(tunnel=ConfigOnlyGateway(KEY), pool=pool, linger=linger)


async def test_a_key_keeps_one_address_across_its_deployments() -> None:
    peers = _table(linger=0.05)
    first = await peers.hold(KEY)
    assert await peers.hold(KEY) == first
    assert await peers.hold(OTHER) != first
    await peers.release(KEY)
    await asyncio.sleep(0.1)
    assert peers.owner_of(first.ip) == KEY  # one deployment still holds it
    await peers.release(KEY)
    assert peers.owner_of(first.ip) == KEY  # lingering
    await asyncio.sleep(0.1)
    assert peers.owner_of(first.ip) is None
    await peers.aclose()


async def test_a_new_deployment_within_the_linger_keeps_the_address() -> None:
    peers = _table(linger=0.1)
    first = await peers.hold(KEY)
    await peers.release(KEY)
    assert await peers.hold(KEY) == first
    await asyncio.sleep(0.2)
    assert peers.owner_of(first.ip) == KEY
    await peers.release(KEY)
    await peers.aclose()  # lingering peers go at once on close
    assert peers.owner_of(first.ip) is None
