"""The prefix index: most specific first, shared networks, removal, and its bound."""

from __future__ import annotations

import ipaddress

from tier1.netmatch import addr_key, net_key
from tier1.table.prefixindex import PrefixIndex


def nets(*texts: str) -> tuple[tuple[int, int, int], ...]:
    return tuple(net_key(ipaddress.ip_network(text)) for text in texts)


def at(text: str) -> tuple[int, int]:
    return addr_key(ipaddress.ip_address(text))


def test_most_specific_prefix_first_and_versions_apart() -> None:
    index: PrefixIndex[str] = PrefixIndex()
    index.add("campus", nets("128.2.0.0/16"))
    index.add("lab", nets("128.2.7.0/24", "2001:db8:7::/48"))
    index.add("v6", nets("2001:db8::/32"))
    assert index.match(at("128.2.7.9"), 10) == ["lab", "campus"]
    assert index.match(at("128.2.8.9"), 10) == ["campus"]
    assert index.match(at("2001:db8:7::1"), 10) == ["lab", "v6"]
    assert index.match(at("10.0.0.1"), 10) == []


def test_shared_networks_and_removal() -> None:
    index: PrefixIndex[int] = PrefixIndex()
    for key in (1, 2, 3):
        index.add(key, nets("10.1.0.0/16"))
    index.add(1, nets("10.1.0.0/16"))  # idempotent
    assert sorted(index.match(at("10.1.2.3"), 10)) == [1, 2, 3]
    index.remove(2, nets("10.1.0.0/16"))
    assert sorted(index.match(at("10.1.2.3"), 10)) == [1, 3]
    index.remove(1, nets("10.1.0.0/16"))
    index.remove(3, nets("10.1.0.0/16"))
    assert index.match(at("10.1.2.3"), 10) == []
    index.remove(3, nets("10.1.0.0/16"))  # removing twice is harmless


def test_matches_are_bounded() -> None:
    index: PrefixIndex[int] = PrefixIndex()
    for key in range(1000):
        index.add(key, nets("0.0.0.0/0"))
    assert len(index.match(at("192.0.2.1"), 256)) == 256
