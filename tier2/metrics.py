"""Load figures of the cloudlet (cluster-wide and per node) and the sampler that keeps the latest.

A figure is `None` when it is unknown (its source is down, or it does not
exist here, like GPU load without GPUs); it is never reported as zero.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from common.cloudlet import CloudletMetrics
from common.types import AppId
from tier2.instruments import Instruments

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Load:
    """Utilisations in [0, 1] and network rates in bytes per second; None is unknown."""

    cpu_utilization: float | None = None
    memory_utilization: float | None = None
    gpu_utilization: float | None = None
    network_rx_bytes_per_second: float | None = None
    network_tx_bytes_per_second: float | None = None

    @property
    def complete(self) -> bool:
        """Every figure but GPU load is known (GPU load is legitimately absent without GPUs)."""
        return None not in (
            self.cpu_utilization,
            self.memory_utilization,
            self.network_rx_bytes_per_second,
            self.network_tx_bytes_per_second,
        )


@dataclass(frozen=True, slots=True)
class LoadSample:
    """The cloudlet's load as a whole and per node, at one time."""

    cluster: Load
    nodes: Mapping[str, Load] = field(default_factory=dict)
    taken: datetime | None = None


UNKNOWN_LOAD = LoadSample(cluster=Load())


class LoadSource(Protocol):
    """Where load figures come from: Prometheus, or this host's /proc."""

    async def fetch(self) -> LoadSample:
        """The current load; unknown figures are None. Never raises for an outage."""


class LoadSampler:
    """Keeps the latest sample for keepalives and the cloudlet info route."""

    def __init__(self, source: LoadSource, instruments: Instruments) -> None:
        self._source = source
        self._instruments = instruments
        self.latest: LoadSample = UNKNOWN_LOAD

    async def step(self) -> None:
        sample = await self._source.fetch()
        self.latest = LoadSample(sample.cluster, sample.nodes, sample.taken or datetime.now(UTC))
        self._instruments.metrics_up.set(1 if sample.cluster.complete else 0)


def to_wire(load: Load, *, backends: list[AppId], rtt: float | None) -> CloudletMetrics:
    """The keepalive's dynamic attributes; out-of-range figures are clamped, never invented."""
    return CloudletMetrics(
        cpu_utilization=_fraction(load.cpu_utilization),
        memory_utilization=_fraction(load.memory_utilization),
        gpu_utilization=_fraction(load.gpu_utilization),
        network_rx_bytes_per_second=_rate(load.network_rx_bytes_per_second),
        network_tx_bytes_per_second=_rate(load.network_tx_bytes_per_second),
        tier1_rtt_seconds=rtt,
        backends=backends,
    )


def _fraction(value: float | None) -> float | None:
    if value is None or value != value:  # NaN from a 0/0 in PromQL is unknown
        return None
    return min(1.0, max(0.0, value))


def _rate(value: float | None) -> float | None:
    if value is None or value != value or value == float("inf"):
        return None
    return max(0.0, value)
