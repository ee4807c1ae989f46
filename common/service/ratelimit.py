"""A per-client rate limit: token buckets by client address, bounded in memory, 429 when empty.

A client is its address as the connection shows it, or, when the connection
comes from a trusted proxy, the address the proxy forwards for (`X-ClientIP`,
then the right-most untrusted hop of `X-Forwarded-For`). IPv6 clients are
grouped by prefix (a /64 by default), since one host can hold a whole /64.
Buckets live in an LRU of fixed size: a flood of spoofed or fresh addresses
costs a bounded amount of memory, and evicts only the longest-idle clients.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import TooManyRequestsError
from common.service.problems import ProblemResponse
from common.types import IPAddress, IPNetwork

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes are never limited: they come from the operator's own monitoring."""

MAX_FORWARDED_HOPS = 32

ClientKey = tuple[int, int]
"""(IP version, address as an int, masked to the grouping prefix)."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The limit as a service applies it (built from its settings)."""

    requests_per_second: float
    burst: int
    max_clients: int
    exempt_networks: tuple[IPNetwork, ...] = ()
    trusted_proxies: tuple[IPNetwork, ...] = ()
    ipv6_prefix_length: int = 64


class TokenBuckets:
    """One bucket per client key, refilled at `rate` tokens a second up to `burst`.

    `take` is O(1); at most `max_clients` buckets exist at once (least
    recently used first out), so memory is bounded whatever the traffic.
    """

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_clients: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate must be positive, burst and max_clients at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[ClientKey, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: ClientKey) -> float:
        """Spend one token of `key`'s bucket: 0.0 if there was one, else seconds until there is."""
        now = self._clock()
        tokens, stamp = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - stamp) * self._rate)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return wait


class RateLimitMiddleware:
    """Answers 429 (a problem with `Retry-After`) to a client whose bucket is empty."""

    def __init__(
        self, app: ASGIApp, *, limit: RateLimit, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self._limit = limit
        self._buckets = TokenBuckets(
            rate=limit.requests_per_second,
            burst=limit.burst,
            max_clients=limit.max_clients,
            clock=clock,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        address = client_address(scope, self._limit.trusted_proxies)
        if address is None or any(address in net for net in self._limit.exempt_networks):
            await self.app(scope, receive, send)
            return
        wait = self._buckets.take(client_key(address, self._limit.ipv6_prefix_length))
        if wait <= 0.0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        error = TooManyRequestsError(
            f"more than {self._limit.requests_per_second:g} requests a second from this client"
            f" (bursts up to {self._limit.burst}); retry after {retry_after}s",
            retry_after=retry_after,
        )
        response = ProblemResponse(
            error.to_problem(instance=scope["path"]), headers={"Retry-After": str(retry_after)}
        )
        await response(scope, receive, send)


def client_address(scope: Scope, trusted_proxies: Sequence[IPNetwork]) -> IPAddress | None:
    """The client the limit applies to; None when the connection has no IP peer."""
    client = scope.get("client")
    peer = _parse(client[0]) if client else None
    if peer is None or not any(peer in net for net in trusted_proxies):
        return peer
    headers = _headers(scope)
    declared = _parse(headers.get(b"x-clientip", b"").decode("latin-1"))
    if declared is not None:
        return declared
    hops = headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",")
    for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
        address = _parse(hop)
        if address is not None and not any(address in net for net in trusted_proxies):
            return address
    return peer


def client_key(address: IPAddress, ipv6_prefix_length: int) -> ClientKey:
    """IPv4 addresses count one by one; IPv6 ones by their first `ipv6_prefix_length` bits."""
    if address.version == 4:
        return (4, int(address))
    shift = 128 - ipv6_prefix_length
    return (6, (int(address) >> shift) << shift)


def _parse(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _headers(scope: Scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", ()):
        if name in (b"x-clientip", b"x-forwarded-for") and name not in found:
            found[name] = value
    return found
