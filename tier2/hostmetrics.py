"""Load figures of this one host from /proc, for the embedded default without Prometheus.

CPU and network figures are rates between two readings, so the first sample
knows only memory; from the second on, every figure is known. A /proc file
that cannot be read leaves its figures unknown.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tier2.metrics import Load, LoadSample

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Reading:
    monotonic: float
    cpu_idle: int | None
    cpu_total: int | None
    rx_bytes: int | None
    tx_bytes: int | None
    memory: float | None


class HostLoad:
    """A `LoadSource` reading /proc/stat, /proc/meminfo and /proc/net/dev."""

    def __init__(self, *, device_exclude: str, proc: Path = Path("/proc")) -> None:
        self._exclude = re.compile(device_exclude)
        self._proc = proc
        self._previous: _Reading | None = None
        self._node = socket.gethostname()

    async def fetch(self) -> LoadSample:
        reading = await asyncio.to_thread(self._read)
        previous, self._previous = self._previous, reading
        load = build_load(previous, reading)
        return LoadSample(cluster=load, nodes={self._node: load})

    def _read(self) -> _Reading:
        idle, total = self._cpu()
        rx, tx = self._network()
        return _Reading(time.monotonic(), idle, total, rx, tx, self._memory())

    def _cpu(self) -> tuple[int | None, int | None]:
        try:
            first = (self._proc / "stat").read_text(encoding="ascii").splitlines()[0].split()
            values = [int(part) for part in first[1:9]]
        except (OSError, IndexError, ValueError) as exc:
            logger.warning("cannot read CPU times: %s", exc)
            return None, None
        # user nice system idle iowait irq softirq steal
        return values[3] + values[4], sum(values)

    def _memory(self) -> float | None:
        fields: dict[str, int] = {}
        try:
            for line in (self._proc / "meminfo").read_text(encoding="ascii").splitlines():
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    fields[name] = int(parts[0])
        except OSError as exc:
            logger.warning("cannot read memory figures: %s", exc)
            return None
        total, available = fields.get("MemTotal"), fields.get("MemAvailable")
        if not total or available is None:
            return None
        return 1.0 - available / total

    def _network(self) -> tuple[int | None, int | None]:
        rx = tx = 0
        try:
            lines = (self._proc / "net" / "dev").read_text(encoding="ascii").splitlines()[2:]
            for line in lines:
                device, _, rest = line.partition(":")
                if self._exclude.fullmatch(device.strip()):
                    continue
                parts = rest.split()
                rx += int(parts[0])
                tx += int(parts[8])
        except (OSError, IndexError, ValueError) as exc:
            logger.warning("cannot read network counters: %s", exc)
            return None, None
        return rx, tx


def build_load(previous: _Reading | None, current: _Reading) -> Load:
    """Rates between two readings; what one reading cannot say stays None."""
    cpu = rx = tx = None
    if previous is not None:
        seconds = current.monotonic - previous.monotonic
        if (
            previous.cpu_total is not None
            and current.cpu_total is not None
            and previous.cpu_idle is not None
            and current.cpu_idle is not None
            and current.cpu_total > previous.cpu_total
        ):
            busy = 1.0 - (current.cpu_idle - previous.cpu_idle) / (
                current.cpu_total - previous.cpu_total
            )
            cpu = min(1.0, max(0.0, busy))
        if seconds > 0:
            rx = _rate(previous.rx_bytes, current.rx_bytes, seconds)
            tx = _rate(previous.tx_bytes, current.tx_bytes, seconds)
    return Load(
        cpu_utilization=cpu,
        memory_utilization=current.memory,
        network_rx_bytes_per_second=rx,
        network_tx_bytes_per_second=tx,
    )


def _rate(before: int | None, after: int | None, seconds: float) -> float | None:
    if before is None or after is None or after < before:
        return None  # a counter reset (device gone) is unknown for one round
    return (after - before) / seconds
