"""The tunnel's client address pool: one address per device key, no collisions, reuse on release."""

from __future__ import annotations

import heapq
import ipaddress

from common.errors import ConflictError, UnavailableError
from common.types import IPAddress, IPInterface, IPNetwork


class AddressPool:
    """Hands out host addresses of `network`; the first host is the gateway's own.

    Addresses are given lowest-first, and a released one is handed out again
    before any never-used one, so the pool stays compact.
    """

    def __init__(self, network: IPNetwork) -> None:
        self.network = network
        self.gateway = network.network_address + 1
        self._first = int(network.network_address) + 2
        self._last = int(network.broadcast_address) - (1 if network.version == 4 else 0)
        self._next = self._first
        self._released: list[int] = []
        self._by_owner: dict[str, int] = {}
        self._owners: dict[int, str] = {}

    @property
    def gateway_interface(self) -> IPInterface:
        """The gateway's address with the pool's prefix, as its interface carries it."""
        return ipaddress.ip_interface(f"{self.gateway}/{self.network.prefixlen}")

    def __len__(self) -> int:
        return len(self._by_owner)

    def get(self, owner: str) -> IPInterface | None:
        """The address `owner` holds, if any (in memory)."""
        value = self._by_owner.get(owner)
        return None if value is None else self._host(value)

    def owner_of(self, address: IPAddress) -> str | None:
        """Who holds `address`, if anyone."""
        return self._owners.get(int(address))

    def allocate(self, owner: str) -> IPInterface:
        """The address of `owner`: the one it holds, else a free one."""
        held = self._by_owner.get(owner)
        if held is not None:
            return self._host(held)
        value = self._take_free()
        self._assign(owner, value)
        return self._host(value)

    def claim(self, owner: str, address: IPAddress) -> IPInterface:
        """Record that `owner` holds `address` (found again after a restart)."""
        value = int(address)
        if address not in self.network or not self._first <= value <= self._last:
            raise ConflictError(f"{address} is not a client address of {self.network}")
        current = self._owners.get(value)
        if current is not None and current != owner:
            raise ConflictError(f"{address} is already held by another key")
        held = self._by_owner.get(owner)
        if held is not None and held != value:
            raise ConflictError(f"this key already holds {self._host(held).ip}")
        if current is None:
            self._assign(owner, value)
            if value in self._released:
                self._released.remove(value)
                heapq.heapify(self._released)
            while self._next <= value:
                if self._next != value and self._next not in self._owners:
                    heapq.heappush(self._released, self._next)
                self._next += 1
        return self._host(value)

    def release(self, owner: str) -> None:
        """Give `owner`'s address back; releasing twice is harmless."""
        value = self._by_owner.pop(owner, None)
        if value is None:
            return
        del self._owners[value]
        heapq.heappush(self._released, value)

    def _take_free(self) -> int:
        while self._released:
            value = heapq.heappop(self._released)
            if value not in self._owners:
                return value
        if self._next > self._last:
            raise UnavailableError(f"the tunnel's client pool {self.network} is exhausted")
        value = self._next
        self._next += 1
        return value

    def _assign(self, owner: str, value: int) -> None:
        self._by_owner[owner] = value
        self._owners[value] = owner

    def _host(self, value: int) -> IPInterface:
        address = type(self.network.network_address)(value)
        return ipaddress.ip_interface(f"{address}/{self.network.max_prefixlen}")
