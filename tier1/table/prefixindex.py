"""Which cloudlets list a client address among their local networks: a lookup per prefix length."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from tier1.netmatch import AddrKey, NetKey, masked

K = TypeVar("K", bound=Hashable)


class _Many(list[K]):
    """Several keys on one network; a network with one key stores the key itself."""


class PrefixIndex(Generic[K]):
    """Networks bucketed by (IP version, prefix length), then by network address.

    Most networks belong to one cloudlet, so a bucket entry is the key itself
    and becomes a `_Many` list only when shared: at a million cloudlets a set
    per network would cost about 200 MB.
    """

    def __init__(self) -> None:
        self._buckets: dict[tuple[int, int], dict[int, K | _Many[K]]] = {}

    def add(self, key: K, networks: tuple[NetKey, ...]) -> None:
        for version, value, prefixlen in networks:
            bucket = self._buckets.setdefault((version, prefixlen), {})
            members = bucket.get(value)
            if members is None:
                bucket[value] = key
            elif isinstance(members, _Many):
                if key not in members:
                    members.append(key)
            elif members != key:
                bucket[value] = _Many([members, key])

    def remove(self, key: K, networks: tuple[NetKey, ...]) -> None:
        for version, value, prefixlen in networks:
            bucket = self._buckets.get((version, prefixlen))
            if bucket is None:
                continue
            members = bucket.get(value)
            if isinstance(members, _Many):
                if key in members:
                    members.remove(key)
                if len(members) == 1:
                    bucket[value] = members[0]
            elif members == key:
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
            members = self._buckets[(version, prefixlen)].get(masked(address, prefixlen))
            if members is None:
                continue
            for key in members if isinstance(members, _Many) else (members,):
                if key not in seen:
                    seen.add(key)
                    found.append(key)
                    if len(found) >= limit:
                        return found
        return found
