"""Tunnel peers by device key: one per key, shared by its deployments, with an address each.

A peer outlives its key's last deployment by `linger` seconds, so a device
that releases its deployment through its own tunnel still gets the answer;
a new deployment for the key within that time keeps the peer and address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from common.errors import SinfoniaError
from common.types import IPAddress, IPInterface
from tier2.addresses import AddressPool
from tier2.tunnel.interface import TunnelGateway

logger = logging.getLogger(__name__)


class PeerTable:
    """Reference-counted peers on the gateway, each with an address from the pool."""

    def __init__(self, *, tunnel: TunnelGateway, pool: AddressPool, linger: float) -> None:
        self.tunnel = tunnel
        self.pool = pool
        self._linger = linger
        self._refs: dict[str, int] = {}
        self._present: set[str] = set()
        self._leaving: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()

    def owner_of(self, address: IPAddress) -> str | None:
        """The device key whose tunnel address is `address` (while it holds one)."""
        return self.pool.owner_of(address)

    def claim(self, client_key: str, address: IPAddress) -> None:
        """Count a deployment found again at start; `sync` then configures the tunnel."""
        self.pool.claim(client_key, address)
        self._refs[client_key] = self._refs.get(client_key, 0) + 1

    async def sync(self) -> None:
        """Make the tunnel's peers exactly the keys that hold deployments."""
        async with self._lock:
            peers = {key: address for key in self._refs if (address := self.pool.get(key))}
            await self.tunnel.set_peers(peers)
            self._present = set(peers)

    async def hold(self, client_key: str) -> IPInterface:
        """One more deployment for `client_key`: its address, and a peer on the tunnel."""
        async with self._lock:
            leaving = self._leaving.pop(client_key, None)
            if leaving is not None:
                leaving.cancel()
            address = self.pool.allocate(client_key)
            if client_key not in self._present:
                try:
                    await self.tunnel.add_peer(client_key, address)
                except BaseException:
                    if not self._refs.get(client_key):
                        self.pool.release(client_key)
                    raise
                self._present.add(client_key)
            self._refs[client_key] = self._refs.get(client_key, 0) + 1
            return address

    async def release(self, client_key: str) -> None:
        """One deployment fewer; the last one's peer goes after the linger time."""
        async with self._lock:
            count = self._refs.get(client_key, 0) - 1
            if count > 0:
                self._refs[client_key] = count
                return
            self._refs.pop(client_key, None)
            if client_key not in self._leaving:
                self._leaving[client_key] = asyncio.create_task(
                    self._remove_later(client_key), name="tunnel peer linger"
                )

    async def aclose(self) -> None:
        """Remove lingering peers now."""
        leaving = list(self._leaving.items())
        self._leaving.clear()
        for _, task in leaving:
            task.cancel()
        await asyncio.gather(*(task for _, task in leaving), return_exceptions=True)
        await self._remove([key for key, _ in leaving])

    async def _remove_later(self, client_key: str) -> None:
        await asyncio.sleep(self._linger)
        async with self._lock:
            if self._leaving.get(client_key) is asyncio.current_task():
                del self._leaving[client_key]
            if self._refs.get(client_key):
                return
        await self._remove([client_key])

    async def _remove(self, keys: Iterable[str]) -> None:
        async with self._lock:
            for client_key in keys:
                if self._refs.get(client_key):
                    continue
                if client_key in self._present:
                    try:
                        await self.tunnel.remove_peer(client_key)
                    except SinfoniaError as exc:
                        logger.warning("could not remove a tunnel peer: %s", exc)
                    self._present.discard(client_key)
                self.pool.release(client_key)
