"""A cloudlet as ST-1 sees it: static attributes, live metrics, admission and keepalives."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from common.geo import GeoLocation
from common.types import (
    AppId,
    CloudletId,
    Count,
    Fraction,
    IPNet,
    IPNetwork,
    Name,
    NonNegative,
    Seconds,
    WireGuardKey,
)
from common.wire import WireModel

MAX_LOCATIONS = 64
MAX_NETWORKS = 256
MAX_BACKENDS = 4096

IPV4_ANY = ipaddress.IPv4Network("0.0.0.0/0")
IPV6_ANY = ipaddress.IPv6Network("::/0")

TrustLevel = Annotated[int, Field(ge=0, le=100)]
"""How far ST-1 trusts a cloudlet's operator, 0 (unknown) to 100 (ST-1's own).

Set by ST-1 at admission from its policy, never taken from the cloudlet.
"""


def _everyone() -> list[IPNetwork]:
    return [IPV4_ANY, IPV6_ANY]


def _refuse_trust_level(data: Any) -> Any:
    """A cloudlet that names its own trust level is refused, not quietly ignored."""
    if isinstance(data, dict) and "trust_level" in data:
        raise ValueError("trust_level is set by ST-1 at admission, never by the cloudlet")
    return data


class Gpu(WireModel):
    """One kind of GPU a cloudlet has."""

    model: Name
    count: Annotated[int, Field(ge=1)] = 1
    memory_bytes: Count | None = None


class Hardware(WireModel):
    """What a cloudlet has in total, across its nodes."""

    cpu_cores: Count = 0
    memory_bytes: Count = 0
    gpus: Annotated[list[Gpu], Field(max_length=64)] = Field(default_factory=list)
    network_bytes_per_second: NonNegative | None = Field(
        default=None, description="Uplink capacity, for bandwidth headroom; unknown if absent."
    )

    @property
    def gpu_count(self) -> int:
        return sum(gpu.count for gpu in self.gpus)


class CloudletStatic(WireModel):
    """What a cloudlet says of itself when it registers; changes only by re-registering."""

    uuid: CloudletId
    name: Name
    endpoint: AnyHttpUrl = Field(description="Base URL of this cloudlet's ST-2 API.")
    public_key: WireGuardKey = Field(description="The cloudlet's WireGuard key: its identity.")
    owner: Name | None = None
    locations: Annotated[list[GeoLocation], Field(max_length=MAX_LOCATIONS)] = Field(
        default_factory=list
    )
    local_networks: Annotated[list[IPNet], Field(max_length=MAX_NETWORKS)] = Field(
        default_factory=list
    )
    accepted_clients: Annotated[list[IPNet], Field(max_length=MAX_NETWORKS)] = Field(
        default_factory=_everyone,
        description="Clients in ANY of these networks are served (IPv4 and IPv6).",
    )
    rejected_clients: Annotated[list[IPNet], Field(max_length=MAX_NETWORKS)] = Field(
        default_factory=list,
        description="Clients in ANY of these networks are refused, even if accepted.",
    )
    hardware: Hardware = Hardware()

    @field_validator("endpoint")
    @classmethod
    def _no_credentials_in_url(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if value.username or value.password:
            raise ValueError("the endpoint URL must not carry credentials")
        return value

    @model_validator(mode="before")
    @classmethod
    def _not_self_trusted(cls, data: Any) -> Any:
        return _refuse_trust_level(data)


class CloudletMetrics(WireModel):
    """A cloudlet's dynamic attributes, sent with every keepalive.

    `None` means unknown (for example, Prometheus is down); it is never the
    same as zero.
    """

    cpu_utilization: Fraction | None = None
    memory_utilization: Fraction | None = None
    gpu_utilization: Fraction | None = None
    network_rx_bytes_per_second: NonNegative | None = None
    network_tx_bytes_per_second: NonNegative | None = None
    tier1_rtt_seconds: NonNegative | None = Field(
        default=None, description="Round-trip time from the cloudlet to this ST-1."
    )
    backends: Annotated[list[AppId], Field(max_length=MAX_BACKENDS)] = Field(
        default_factory=list, description="Apps whose backends are cached or running here."
    )


class RegistrationRequest(WireModel):
    """ST-2 asks ST-1 to admit it to the CloudletTable."""

    cloudlet: CloudletStatic
    keepalive_interval: Seconds = Field(
        default=10.0, le=3600.0, description="The interval ST-2 would like."
    )
    registration_token: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="A shared token, when ST-1's admission policy asks for one."
    )
    deploy_credential: Annotated[str, Field(min_length=16, max_length=1024)] | None = Field(
        default=None,
        description="Bearer token ST-1 must present when it asks this cloudlet to deploy.",
    )
    metrics: CloudletMetrics = CloudletMetrics()

    @model_validator(mode="before")
    @classmethod
    def _not_self_trusted(cls, data: Any) -> Any:
        return _refuse_trust_level(data)


class RegistrationResponse(WireModel):
    """ST-1 admitted the cloudlet: how often to send keepalives, and the credential for them."""

    uuid: CloudletId
    keepalive_interval: Seconds = Field(description="The interval ST-1 negotiated.")
    ttl: Seconds = Field(description="Seconds without a keepalive after which the row is deleted.")
    credential: Annotated[str, Field(min_length=16, max_length=1024)] = Field(
        description="Bearer credential for this cloudlet's keepalives and deregistration."
    )
    trust_level: TrustLevel


class Keepalive(WireModel):
    """A periodic update: the cloudlet is alive, and this is its load."""

    metrics: CloudletMetrics

    @model_validator(mode="before")
    @classmethod
    def _not_self_trusted(cls, data: Any) -> Any:
        return _refuse_trust_level(data)


class KeepaliveResponse(WireModel):
    """ST-1 acknowledges a keepalive and may change the interval."""

    keepalive_interval: Seconds
    ttl: Seconds


class CloudletSummary(WireModel):
    """A cloudlet row as ST-1 lists it to operators (native API)."""

    static: CloudletStatic
    metrics: CloudletMetrics
    trust_level: TrustLevel
    last_update: datetime
