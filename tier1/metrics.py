"""ST-1's Prometheus metrics, in one registry per app (labels are low-cardinality only)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from common import __version__

_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_DEPLOY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Tier1Metrics:
    registry: CollectorRegistry
    cloudlets: Gauge
    registrations: Counter
    keepalives: Counter
    expired: Counter
    selection_duration: Histogram
    plugin_duration: Histogram
    selection_results: Counter
    external_selector: Counter
    deploy_outcomes: Counter
    deploy_duration: Histogram

    @classmethod
    def create(cls) -> Tier1Metrics:
        registry = CollectorRegistry()
        Info("sinfonia_tier1_build", "Version of this ST-1.", registry=registry).info(
            {"version": __version__}
        )
        return cls(
            registry=registry,
            cloudlets=Gauge(
                "sinfonia_tier1_cloudlets", "Rows in the CloudletTable.", registry=registry
            ),
            registrations=Counter(
                "sinfonia_tier1_registrations_total",
                "Cloudlet registrations admitted, new rows or rows taken back.",
                ["outcome"],
                registry=registry,
            ),
            keepalives=Counter(
                "sinfonia_tier1_keepalives_total", "Keepalives accepted.", registry=registry
            ),
            expired=Counter(
                "sinfonia_tier1_expired_total",
                "Rows deleted because their keepalives stopped.",
                registry=registry,
            ),
            selection_duration=Histogram(
                "sinfonia_tier1_selection_duration_seconds",
                "One selection cycle, from candidate lookup to the short list.",
                buckets=_FAST_BUCKETS,
                registry=registry,
            ),
            plugin_duration=Histogram(
                "sinfonia_tier1_selection_plugin_duration_seconds",
                "Time in one plugin at one extension point, per cycle.",
                ["extension_point", "plugin"],
                buckets=_FAST_BUCKETS,
                registry=registry,
            ),
            selection_results=Counter(
                "sinfonia_tier1_selection_results_total",
                "Selection cycles by result.",
                ["result"],
                registry=registry,
            ),
            external_selector=Counter(
                "sinfonia_tier1_external_selector_total",
                "Calls to the external selector by outcome.",
                ["outcome"],
                registry=registry,
            ),
            deploy_outcomes=Counter(
                "sinfonia_tier1_deploy_outcomes_total",
                "Deploy calls to cloudlets by outcome.",
                ["outcome"],
                registry=registry,
            ),
            deploy_duration=Histogram(
                "sinfonia_tier1_deploy_duration_seconds",
                "A whole deploy request, selection and fan-out.",
                buckets=_DEPLOY_BUCKETS,
                registry=registry,
            ),
        )
