"""The client address pool: lowest first, no collisions, reuse after release, claims."""

from __future__ import annotations

import ipaddress

import pytest

from common.errors import ConflictError, UnavailableError
from tier2.addresses import AddressPool


def _ip(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(text)


def test_addresses_start_after_the_gateway_and_never_collide() -> None:
    pool = AddressPool(ipaddress.ip_network("10.251.0.0/24"))
    assert str(pool.gateway_interface) == "10.251.0.1/24"
    given = [pool.allocate(f"key{i}") for i in range(10)]
    assert [str(a) for a in given[:2]] == ["10.251.0.2/32", "10.251.0.3/32"]
    assert len({a.ip for a in given}) == 10
    assert pool.allocate("key3") == given[3]  # same owner, same address


def test_released_addresses_are_reused_lowest_first() -> None:
    pool = AddressPool(ipaddress.ip_network("10.251.0.0/24"))
    for i in range(5):
        pool.allocate(f"key{i}")
    pool.release("key3")
    pool.release("key1")
    pool.release("key1")  # twice is harmless
    assert pool.allocate("new-a").ip == _ip("10.251.0.3")
    assert pool.allocate("new-b").ip == _ip("10.251.0.5")
    assert pool.allocate("new-c").ip == _ip("10.251.0.7")
    assert pool.owner_of(_ip("10.251.0.3")) == "new-a"
    assert pool.owner_of(_ip("10.251.0.200")) is None


def test_an_exhausted_pool_is_a_retryable_503() -> None:
    pool = AddressPool(ipaddress.ip_network("10.251.0.0/29"))  # .2 to .6 for devices
    for i in range(5):
        pool.allocate(f"key{i}")
    with pytest.raises(UnavailableError, match="exhausted") as caught:
        pool.allocate("one-too-many")
    assert caught.value.retryable
    pool.release("key0")
    assert pool.allocate("one-too-many").ip == _ip("10.251.0.2")


def test_claims_after_a_restart_keep_addresses_and_skip_them_later() -> None:
    pool = AddressPool(ipaddress.ip_network("10.251.0.0/24"))
    assert pool.claim("old-b", _ip("10.251.0.4")).ip == _ip("10.251.0.4")
    assert pool.claim("old-b", _ip("10.251.0.4")).ip == _ip("10.251.0.4")  # idempotent
    # The addresses below the claimed one are free; the claimed one is never handed out.
    assert [pool.allocate(k).ip for k in ("x", "y", "z")] == [
        _ip("10.251.0.2"),
        _ip("10.251.0.3"),
        _ip("10.251.0.5"),
    ]


@pytest.mark.parametrize(
    ("owner", "address", "message"),
    [
        ("other", "10.251.0.2", "already held"),
        ("first", "10.251.0.9", "already holds"),
        ("new", "10.251.0.1", "not a client address"),
        ("new", "192.0.2.7", "not a client address"),
    ],
)
def test_conflicting_claims_are_refused(owner: str, address: str, message: str) -> None:
    pool = AddressPool(ipaddress.ip_network("10.251.0.0/24"))
    pool.allocate("first")
    with pytest.raises(ConflictError, match=message):
        pool.claim(owner, _ip(address))


def test_ipv6_pools_hand_out_ipv6_host_addresses() -> None:
    pool = AddressPool(ipaddress.ip_network("fd00:5::/120"))
    assert str(pool.allocate("a")) == "fd00:5::2/128"
