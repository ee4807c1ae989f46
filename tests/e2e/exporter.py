"""A stand-in node-exporter whose load the test sets, for a real Prometheus to scrape.

The real node-exporter reports this machine, whose CPU the test run itself
keeps busy: two cloudlets reading it would show the same, ever-changing load.
This one serves the same metric names with counters that advance at the rate
the test chose, so Prometheus, PromQL and ST-2's aggregation stay real and the
load each cloudlet reports is known.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class SyntheticNode:
    """One node: `cpus` CPUs busy `busy` of the time, memory `memory_used` full, maybe a GPU."""

    busy: float = 0.1
    cpus: int = 4
    memory_used: float = 0.4
    memory_bytes: int = 16 * 1024**3
    gpu: float | None = None
    rx_bytes_per_second: float = 2.0e6
    tx_bytes_per_second: float = 1.0e6
    _idle: float = 0.0
    _work: float = 0.0
    _rx: float = 0.0
    _tx: float = 0.0
    _last: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set_busy(self, busy: float) -> None:
        """From now on, the CPUs are `busy` (0 to 1) of the time."""
        with self._lock:
            self._advance()
            self.busy = busy

    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        self._work += self.busy * elapsed
        self._idle += (1.0 - self.busy) * elapsed
        self._rx += self.rx_bytes_per_second * elapsed
        self._tx += self.tx_bytes_per_second * elapsed

    def render(self) -> str:
        """The exposition text, with counters advanced to now."""
        with self._lock:
            self._advance()
            lines = ["# TYPE node_cpu_seconds_total counter"]
            for cpu in range(self.cpus):
                lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="idle"}} {self._idle:.6f}')
                lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="user"}} {self._work:.6f}')
            available = self.memory_bytes * (1.0 - self.memory_used)
            lines += [
                "# TYPE node_memory_MemTotal_bytes gauge",
                f"node_memory_MemTotal_bytes {self.memory_bytes}",
                "# TYPE node_memory_MemAvailable_bytes gauge",
                f"node_memory_MemAvailable_bytes {available:.0f}",
                "# TYPE node_network_receive_bytes_total counter",
                f'node_network_receive_bytes_total{{device="eth0"}} {self._rx:.0f}',
                "# TYPE node_network_transmit_bytes_total counter",
                f'node_network_transmit_bytes_total{{device="eth0"}} {self._tx:.0f}',
            ]
            if self.gpu is not None:
                lines += [
                    "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
                    f'DCGM_FI_DEV_GPU_UTIL{{gpu="0"}} {self.gpu * 100:.1f}',
                ]
            return "\n".join(lines) + "\n"


def handler_for(node: SyntheticNode) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler serving `node` on `/metrics`."""

    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = node.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args  # scrapes every second: not worth a log line

    return MetricsHandler
