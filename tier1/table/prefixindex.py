"""Which cloudlets list a client address among their local networks: a lookup per prefix length."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from tier1.netmatch import AddrKey, NetKey, masked

K = TypeVar("K", bound=Hashable)


class PrefixIndex(Generic[K]):
    """Networks bucketed by (IP version, prefix length), then by network address."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[int, int], dict[int, set[K]]] = {}

    def add(self, key: K, networks: tuple[NetKey, ...]) -> None:
        for version, value, prefixlen in networks:
            bucket = self._buckets.setdefault((version, prefixlen), {})
            bucket.setdefault(value, set()).add(key)

    def remove(self, key: K, networks: tuple[NetKey, ...]) -> None:
        for version, value, prefixlen in networks:
            bucket = self._buckets.get((version, prefixlen))
            if bucket is None:
                continue
            members = bucket.get(value)
            if members is None:
                continue
            members.discard(key)
            if not members:
                del bucket[value]
            if not bucket:
                del self._buckets[(version, prefixlen)]

    def match(self, address: AddrKey, limit: int) -> list[K]:
        """Up to `limit` keys whose networks contain `address`, most specific prefix first."""
        found: list[K] = []
        seen: set[K] = set()
        version = address[0]
        lengths = sorted((plen for v, plen in self._buckets if v == version), reverse=True)
        for prefixlen in lengths:
            members = self._buckets[(version, prefixlen)].get(masked(address, prefixlen), ())
            for key in members:
                if key not in seen:
                    seen.add(key)
                    found.append(key)
                    if len(found) >= limit:
                        return found
        return found
