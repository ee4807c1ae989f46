"""Compact IP networks for the CloudletTable: `(version, network as int, prefix length)` tuples.

A million cloudlets each listing a few networks would spend most of ST-1's
memory on `ipaddress` objects; these tuples are a fifth of the size and
match an address with two shifts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from common.types import IPAddress, IPNetwork

NetKey = tuple[int, int, int]
"""(IP version, network address as an int, prefix length)."""

AddrKey = tuple[int, int]
"""(IP version, address as an int)."""

_BITS = {4: 32, 6: 128}
_interned: dict[NetKey, NetKey] = {}


def net_key(network: IPNetwork) -> NetKey:
    """The compact form of `network`; equal networks share one tuple."""
    key = (network.version, int(network.network_address), network.prefixlen)
    return _interned.setdefault(key, key) if network.prefixlen <= 8 else key


def net_keys(networks: Iterable[IPNetwork]) -> tuple[NetKey, ...]:
    return tuple(net_key(network) for network in networks)


def addr_key(address: IPAddress) -> AddrKey:
    return (address.version, int(address))


def to_network(key: NetKey) -> IPNetwork:
    version, value, prefixlen = key
    if version == 4:
        return ipaddress.IPv4Network((value, prefixlen))
    return ipaddress.IPv6Network((value, prefixlen))


def contains(network: NetKey, address: AddrKey) -> bool:
    """Whether `address` lies in `network` (never across IP versions)."""
    version, value, prefixlen = network
    if version != address[0]:
        return False
    shift = _BITS[version] - prefixlen
    return (address[1] >> shift) == (value >> shift)


def any_contains(networks: Iterable[NetKey], address: AddrKey) -> bool:
    """ANY semantics: the address is in at least one of `networks`."""
    return any(contains(network, address) for network in networks)


def masked(address: AddrKey, prefixlen: int) -> int:
    """The network part of `address` at `prefixlen`, as the prefix index keys it."""
    shift = _BITS[address[0]] - prefixlen
    return (address[1] >> shift) << shift
