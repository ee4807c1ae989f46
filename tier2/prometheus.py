"""Load figures from Prometheus (node-exporter, DCGM exporter) through `prometheus-api-client`.

Each figure is its own PromQL query, aggregated so that it is right on a
multi-node cluster: utilisation is total busy time over total CPU time (not a
mean of per-node means), memory is used over total summed across nodes, and
network rates are summed. The same queries grouped `by (node label)` give the
per-node view. A query that fails or returns nothing leaves its figure None.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from tier2.metrics import Load, LoadSample

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Queries:
    """PromQL per figure; `{by}` is the grouping clause, empty for the cluster-wide figure."""

    window: str
    device_exclude: str

    def all(self, by: str) -> dict[str, str]:
        w, x = self.window, self.device_exclude
        net = '{device!~"' + x + '"}'
        return {
            "cpu_utilization": (
                f'1 - sum {by} (rate(node_cpu_seconds_total{{mode="idle"}}[{w}]))'
                f" / sum {by} (rate(node_cpu_seconds_total[{w}]))"
            ),
            "memory_utilization": (
                f"1 - sum {by} (node_memory_MemAvailable_bytes)"
                f" / sum {by} (node_memory_MemTotal_bytes)"
            ),
            "gpu_utilization": f"avg {by} (DCGM_FI_DEV_GPU_UTIL) / 100",
            "network_rx_bytes_per_second": (
                f"sum {by} (rate(node_network_receive_bytes_total{net}[{w}]))"
            ),
            "network_tx_bytes_per_second": (
                f"sum {by} (rate(node_network_transmit_bytes_total{net}[{w}]))"
            ),
        }


class PrometheusLoad:
    """A `LoadSource` over one Prometheus; `at` pins evaluation time (tests over fixed data)."""

    def __init__(
        self,
        url: str,
        *,
        query_timeout: float,
        window: str,
        device_exclude: str,
        node_label: str = "instance",
    ) -> None:
        self._client = PrometheusConnect(
            url=url, disable_ssl=False, retry=Retry(total=0), timeout=query_timeout
        )
        self._queries = Queries(window=window, device_exclude=device_exclude)
        self._node_label = node_label
        self._timeout = query_timeout

    async def fetch(self, at: datetime | None = None) -> LoadSample:
        params = {"time": str(at.timestamp())} if at is not None else None
        cluster_queries = self._queries.all("")
        node_queries = self._queries.all(f"by ({self._node_label})")
        names = list(cluster_queries)
        scalars, groups = await asyncio.gather(
            asyncio.gather(*(self._scalar(cluster_queries[name], params) for name in names)),
            asyncio.gather(*(self._grouped(node_queries[name], params) for name in names)),
        )
        cluster = Load(**dict(zip(names, scalars, strict=True)))
        per_node: dict[str, dict[str, float | None]] = {}
        for name, grouped in zip(names, groups, strict=True):
            for node, value in (grouped or {}).items():
                per_node.setdefault(node, dict.fromkeys(names))[name] = value
        nodes = {node: Load(**figures) for node, figures in sorted(per_node.items())}
        return LoadSample(cluster=cluster, nodes=nodes, taken=at)

    async def _scalar(self, query: str, params: dict[str, str] | None) -> float | None:
        vector = await self._query(query, params)
        if not vector:
            return None
        return _number(vector[0])

    async def _grouped(
        self, query: str, params: dict[str, str] | None
    ) -> Mapping[str, float | None] | None:
        vector = await self._query(query, params)
        if vector is None:
            return None
        grouped: dict[str, float | None] = {}
        for item in vector:
            node = (item.get("metric") or {}).get(self._node_label)
            if node:
                grouped[str(node)] = _number(item)
        return grouped

    async def _query(self, query: str, params: dict[str, str] | None) -> list[Any] | None:
        try:
            async with asyncio.timeout(self._timeout + 1.0):
                result = await asyncio.to_thread(
                    self._client.custom_query, query=query, params=params
                )
        except Exception as exc:  # any failure of the source makes the figure unknown
            logger.warning("PromQL query failed, figure unknown: %s", _short(exc))
            return None
        return result if isinstance(result, list) else None


def _number(item: Any) -> float | None:
    try:
        value = float(item["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _short(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}"
