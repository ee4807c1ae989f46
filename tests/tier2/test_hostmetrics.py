"""Host load from the real /proc: memory at once, CPU and network from the second reading."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tier2.hostmetrics import HostLoad
from tier2.metrics import Load, to_wire


async def test_real_proc_gives_known_figures_from_the_second_reading() -> None:
    source = HostLoad(device_exclude="lo")
    first = await source.fetch()
    assert first.cluster.memory_utilization is not None
    assert 0.0 < first.cluster.memory_utilization < 1.0
    assert first.cluster.cpu_utilization is None  # a rate needs two readings
    await asyncio.sleep(0.2)
    second = await source.fetch()
    load = second.cluster
    assert load.cpu_utilization is not None
    assert 0.0 <= load.cpu_utilization <= 1.0
    assert load.network_rx_bytes_per_second is not None
    assert load.network_rx_bytes_per_second >= 0.0
    assert load.gpu_utilization is None
    assert load.complete
    assert list(second.nodes.values()) == [load]


async def test_unreadable_proc_means_unknown_not_zero(tmp_path: Path) -> None:
    source = HostLoad(device_exclude="lo", proc=tmp_path)
    await source.fetch()
    sample = await source.fetch()
    assert sample.cluster == Load()
    assert not sample.cluster.complete


def test_wire_metrics_keep_unknown_as_none_and_clamp_out_of_range() -> None:
    wire = to_wire(
        Load(cpu_utilization=1.0000001, memory_utilization=float("nan"), gpu_utilization=None),
        backends=[],
        rtt=0.01,
    )
    assert wire.cpu_utilization == 1.0
    assert wire.memory_utilization is None
    assert wire.gpu_utilization is None
    assert wire.network_rx_bytes_per_second is None
    assert wire.tier1_rtt_seconds == 0.01
