"""ST-2's own Prometheus metrics (`sinfonia_tier2_*`) on a registry handed in; labels stay few."""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from common.deployment import DeploymentStatus
from tier2.records import DeploymentRecord


class Instruments:
    """Deploy latencies by outcome, deployments by status, collector and keepalive counts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deploy_seconds = Histogram(
            "sinfonia_tier2_deploy_seconds",
            "Time to answer a deploy request, by outcome (created, renewed, joined, failed).",
            ["outcome"],
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=registry,
        )
        self.deployments = Gauge(
            "sinfonia_tier2_deployments",
            "Deployments on this cloudlet, by status.",
            ["status"],
            registry=registry,
        )
        self.transitions = Counter(
            "sinfonia_tier2_lifecycle_transitions_total",
            "Lease decisions the collector acted on, by action.",
            ["action"],
            registry=registry,
        )
        self.keepalives = Counter(
            "sinfonia_tier2_keepalives_total",
            "Calls to ST-1s, by kind (register, keepalive, deregister) and result.",
            ["kind", "result"],
            registry=registry,
        )
        self.metrics_up = Gauge(
            "sinfonia_tier2_metrics_source_up",
            "1 when the last load sample was complete, 0 when some figures were unknown.",
            registry=registry,
        )

    def observe_deploy(self, outcome: str, started: float) -> None:
        elapsed = asyncio.get_running_loop().time() - started
        self.deploy_seconds.labels(outcome=outcome).observe(elapsed)

    def count_transition(self, action: str) -> None:
        self.transitions.labels(action=action).inc()

    def count_call(self, kind: str, result: str) -> None:
        self.keepalives.labels(kind=kind, result=result).inc()

    def track(self, records: Iterable[DeploymentRecord]) -> None:
        counts = Tally(record.status for record in records)
        for status in DeploymentStatus:
            self.deployments.labels(status=status.value).set(counts.get(status, 0))
