"""Hypothesis strategies for Sinfonia's wire values: keys, addresses, networks, places, names."""

from __future__ import annotations

import base64
import ipaddress
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.harness.requirements import in_ci

EXAMPLES = int(os.environ.get("SINFONIA_PROPERTY_EXAMPLES", "200"))

PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=in_ci(),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
"""Every property test's settings: reproducible under CI=true, more examples on request."""

key_bytes = st.binary(min_size=32, max_size=32).filter(lambda raw: any(raw))


def encoded_key(raw: bytes, *, urlsafe: bool, padded: bool) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padded else text.rstrip("=")


wireguard_keys = key_bytes.map(lambda raw: base64.b64encode(raw).decode())
"""Canonical WireGuard public keys."""

ipv4_addresses = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv6_addresses = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
ip_addresses = st.one_of(ipv4_addresses, ipv6_addresses)


@st.composite
def ipv4_networks(draw: st.DrawFn) -> ipaddress.IPv4Network:
    prefix = draw(st.integers(0, 32))
    return ipaddress.IPv4Network((draw(ipv4_addresses), prefix), strict=False)


@st.composite
def ipv6_networks(draw: st.DrawFn) -> ipaddress.IPv6Network:
    prefix = draw(st.integers(0, 128))
    return ipaddress.IPv6Network((draw(ipv6_addresses), prefix), strict=False)


ip_networks = st.one_of(ipv4_networks(), ipv6_networks())

latitudes = st.floats(-90.0, 90.0, allow_nan=False)
longitudes = st.floats(-180.0, 180.0, allow_nan=False)
locations = st.tuples(latitudes, longitudes)
fractions = st.floats(0.0, 1.0, allow_nan=False)

names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=40,
)
"""Names without surrounding whitespace (the wire models strip it)."""

dns_labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
ports = st.integers(1, 65535)


@st.composite
def cloudlet_statics(draw: st.DrawFn) -> dict[str, Any]:
    """A `CloudletStatic` body as a cloudlet would send it."""
    return {
        "uuid": str(draw(st.uuids())),
        "name": draw(names),
        "endpoint": f"http://{draw(dns_labels)}.example:{draw(ports)}/",
        "public_key": draw(wireguard_keys),
        "owner": draw(st.none() | names),
        "locations": draw(st.lists(locations, max_size=3)),
        "local_networks": [str(n) for n in draw(st.lists(ip_networks, max_size=3))],
        "accepted_clients": [str(n) for n in draw(st.lists(ip_networks, min_size=1, max_size=3))],
        "rejected_clients": [str(n) for n in draw(st.lists(ip_networks, max_size=3))],
        "hardware": {
            "cpu_cores": draw(st.integers(0, 1024)),
            "memory_bytes": draw(st.integers(0, 2**40)),
            "gpus": [
                {"model": draw(names), "count": draw(st.integers(1, 8))}
                for _ in range(draw(st.integers(0, 2)))
            ],
        },
    }


@st.composite
def metrics(draw: st.DrawFn) -> dict[str, Any]:
    """A `CloudletMetrics` body; None means unknown."""
    optional_fraction = st.none() | fractions
    return {
        "cpu_utilization": draw(optional_fraction),
        "memory_utilization": draw(optional_fraction),
        "gpu_utilization": draw(optional_fraction),
        "network_rx_bytes_per_second": draw(st.none() | st.floats(0, 1e12)),
        "tier1_rtt_seconds": draw(st.none() | st.floats(0, 10)),
        "backends": [str(u) for u in draw(st.lists(st.uuids(), max_size=4))],
    }
