"""The per-client token buckets: memory stays bounded, no client gets more than its budget,
and a client the limiter has never seen is always served at first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common.service.ratelimit import TokenBuckets
from tests.reliability.property.strategies import PROPERTY


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@PROPERTY
@given(
    max_clients=st.integers(1, 50),
    keys=st.lists(st.integers(0, 500), max_size=400),
)
def test_memory_is_bounded_by_max_clients(max_clients: int, keys: list[int]) -> None:
    buckets = TokenBuckets(rate=1.0, burst=3, max_clients=max_clients, clock=FakeClock())
    for key in keys:
        buckets.take((4, key))
        assert len(buckets) <= max_clients


@PROPERTY
@given(
    rate=st.floats(0.1, 100.0),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=300),
)
def test_one_client_never_gets_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=rate, burst=burst, max_clients=10, clock=clock)
    started = clock.now
    served = 0
    for gap in gaps:
        clock.now += gap
        wait = buckets.take((4, 1))
        assert wait >= 0.0
        if wait == 0.0:
            served += 1
        else:
            assert wait <= 1.0 / rate + 1e-9  # Retry-After is never more than one token away
        assert served <= burst + rate * (clock.now - started) + 1e-6


@PROPERTY
@given(others=st.lists(st.integers(1, 100), max_size=200), fresh=st.integers(101, 200))
def test_a_new_client_is_served_whatever_the_others_did(others: list[int], fresh: int) -> None:
    buckets = TokenBuckets(rate=0.001, burst=1, max_clients=8, clock=FakeClock())
    for key in others:
        buckets.take((4, key))
    assert buckets.take((6, fresh)) == 0.0
