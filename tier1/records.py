"""A CloudletTable row as ST-1 holds it: compact, immutable, converted from and to the wire once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from common.cloudlet import CloudletMetrics, CloudletStatic, CloudletSummary, Gpu, Hardware
from common.geo import GeoLocation
from common.types import CloudletId
from common.v1 import CloudletInfoV1
from tier1.netmatch import NetKey, net_keys, to_network

Location = tuple[float, float]
"""(latitude, longitude) in degrees."""


@dataclass(frozen=True, slots=True)
class Load:
    """A cloudlet's dynamic attributes; `None` is unknown, never zero."""

    cpu: float | None = None
    memory: float | None = None
    gpu: float | None = None
    rx_bytes_per_second: float | None = None
    tx_bytes_per_second: float | None = None
    tier1_rtt_seconds: float | None = None
    backends: frozenset[UUID] = frozenset()

    @classmethod
    def from_metrics(cls, metrics: CloudletMetrics) -> Load:
        return cls(
            cpu=metrics.cpu_utilization,
            memory=metrics.memory_utilization,
            gpu=metrics.gpu_utilization,
            rx_bytes_per_second=metrics.network_rx_bytes_per_second,
            tx_bytes_per_second=metrics.network_tx_bytes_per_second,
            tier1_rtt_seconds=metrics.tier1_rtt_seconds,
            backends=frozenset(metrics.backends) if metrics.backends else frozenset(),
        )

    def to_metrics(self) -> CloudletMetrics:
        return CloudletMetrics(
            cpu_utilization=self.cpu,
            memory_utilization=self.memory,
            gpu_utilization=self.gpu,
            network_rx_bytes_per_second=self.rx_bytes_per_second,
            network_tx_bytes_per_second=self.tx_bytes_per_second,
            tier1_rtt_seconds=self.tier1_rtt_seconds,
            backends=sorted(self.backends),  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class CloudletRecord:
    """One cloudlet: what it said of itself, its load, and what ST-1 decided about it.

    Selection plugins read these as snapshots; a keepalive replaces the
    record rather than changing it.
    """

    uuid: CloudletId
    name: str
    endpoint: str
    public_key: str
    owner: str | None
    locations: tuple[Location, ...]
    local_networks: tuple[NetKey, ...]
    accepted_clients: tuple[NetKey, ...]
    rejected_clients: tuple[NetKey, ...]
    cpu_cores: int
    memory_bytes: int
    gpus: tuple[tuple[str, int], ...]
    network_bytes_per_second: float | None
    load: Load
    trust_level: int
    operator: str | None
    last_update: float
    """Wall-clock time of the last registration or keepalive, seconds since the epoch."""
    keepalive_interval: float
    ttl: float | None
    """Seconds without a keepalive before the row is deleted; `None` never expires (static rows)."""
    credential_digest: str = ""
    deploy_credential: str | None = None

    @property
    def gpu_count(self) -> int:
        return sum(count for _, count in self.gpus)

    @classmethod
    def from_static(
        cls,
        static: CloudletStatic,
        metrics: CloudletMetrics,
        *,
        trust_level: int,
        operator: str | None,
        now: float,
        keepalive_interval: float,
        ttl: float | None,
        credential_digest: str = "",
        deploy_credential: str | None = None,
    ) -> CloudletRecord:
        return cls(
            uuid=static.uuid,
            name=static.name,
            endpoint=str(static.endpoint),
            public_key=static.public_key,
            owner=static.owner,
            locations=tuple(location.as_pair() for location in static.locations),
            local_networks=net_keys(static.local_networks),
            accepted_clients=net_keys(static.accepted_clients),
            rejected_clients=net_keys(static.rejected_clients),
            cpu_cores=static.hardware.cpu_cores,
            memory_bytes=static.hardware.memory_bytes,
            gpus=tuple((gpu.model, gpu.count) for gpu in static.hardware.gpus),
            network_bytes_per_second=static.hardware.network_bytes_per_second,
            load=Load.from_metrics(metrics),
            trust_level=trust_level,
            operator=operator,
            last_update=now,
            keepalive_interval=keepalive_interval,
            ttl=ttl,
            credential_digest=credential_digest,
            deploy_credential=deploy_credential,
        )

    def to_static(self) -> CloudletStatic:
        return CloudletStatic(
            uuid=self.uuid,
            name=self.name,
            endpoint=self.endpoint,  # type: ignore[arg-type]
            public_key=self.public_key,
            owner=self.owner,
            locations=[GeoLocation(latitude=lat, longitude=lon) for lat, lon in self.locations],
            local_networks=[to_network(key) for key in self.local_networks],
            accepted_clients=[to_network(key) for key in self.accepted_clients],
            rejected_clients=[to_network(key) for key in self.rejected_clients],
            hardware=Hardware(
                cpu_cores=self.cpu_cores,
                memory_bytes=self.memory_bytes,
                gpus=[Gpu(model=model, count=count) for model, count in self.gpus],
                network_bytes_per_second=self.network_bytes_per_second,
            ),
        )

    def last_update_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.last_update, UTC)

    def to_summary(self) -> CloudletSummary:
        return CloudletSummary(
            static=self.to_static(),
            metrics=self.load.to_metrics(),
            trust_level=self.trust_level,
            last_update=self.last_update_datetime(),
        )

    def to_v1(self) -> CloudletInfoV1:
        resources = {
            name: value
            for name, value in (
                ("cpu_ratio", self.load.cpu),
                ("mem_ratio", self.load.memory),
                ("gpu_ratio", self.load.gpu),
                ("net_rx_rate", self.load.rx_bytes_per_second),
                ("net_tx_rate", self.load.tx_bytes_per_second),
            )
            if value is not None
        }
        return CloudletInfoV1.model_validate(
            {
                "uuid": self.uuid,
                "name": self.name,
                "endpoint": self.endpoint,
                "locations": [list(location) for location in self.locations],
                "local_networks": [str(to_network(key)) for key in self.local_networks],
                "accepted_clients": [str(to_network(key)) for key in self.accepted_clients],
                "rejected_clients": [str(to_network(key)) for key in self.rejected_clients],
                "resources": resources,
                "last_update": self.last_update_datetime(),
            }
        )
