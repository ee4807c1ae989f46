"""The original Sinfonia v1 REST shapes, with their field names, and conversions to native.

This is the one module where wire names differ from snake_case: `UUID`,
`ApplicationKey`, `TunnelConfig{publicKey, allowedIPs, ...}`. An existing
Sinfonia Tier-3 client must read these unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, ConfigDict, Field, PlainSerializer

from common.deployment import Deployment, DeploymentName, DeploymentStatus
from common.geo import GeoLocation
from common.tunnel import DnsEntry, TunnelConfig
from common.types import AppId, CloudletId, Endpoint, IPIface, IPNet, Name, WireGuardKey
from common.wire import WireModel

_V1_CONFIG = ConfigDict(
    extra="ignore",
    frozen=True,
    serialize_by_alias=True,
)


class TunnelConfigV1(WireModel):
    """v1 `WireguardConfig`."""

    model_config = _V1_CONFIG

    public_key: WireGuardKey = Field(alias="publicKey")
    allowed_ips: list[IPNet] = Field(alias="allowedIPs", min_length=1, max_length=256)
    endpoint: Endpoint
    address: list[IPIface] = Field(min_length=1, max_length=16)
    dns: list[DnsEntry] = Field(default_factory=list, max_length=32)

    @classmethod
    def from_native(cls, tunnel: TunnelConfig) -> TunnelConfigV1:
        return cls(
            publicKey=tunnel.public_key,
            allowedIPs=tunnel.allowed_ips,
            endpoint=tunnel.endpoint,
            address=tunnel.address,
            dns=tunnel.dns,
        )

    def to_native(self) -> TunnelConfig:
        return TunnelConfig(
            public_key=self.public_key,
            allowed_ips=self.allowed_ips,
            endpoint=self.endpoint,
            address=self.address,
            dns=self.dns,
        )


class CloudletDeploymentV1(WireModel):
    """v1 `CloudletDeployment`: one element of the list a v1 deploy returns."""

    model_config = _V1_CONFIG

    uuid: AppId = Field(alias="UUID")
    application_key: WireGuardKey = Field(alias="ApplicationKey")
    status: DeploymentStatus = Field(alias="Status")
    tunnel_config: TunnelConfigV1 = Field(alias="TunnelConfig")
    created: datetime | None = Field(default=None, alias="Created")
    expires: datetime | None = Field(default=None, alias="Expires")
    deployment_name: DeploymentName | None = Field(default=None, alias="DeploymentName")

    @classmethod
    def from_native(cls, deployment: Deployment) -> CloudletDeploymentV1:
        return cls(
            UUID=deployment.app,
            ApplicationKey=deployment.client_public_key,
            Status=deployment.status,
            TunnelConfig=TunnelConfigV1.from_native(deployment.tunnel),
            Created=deployment.created,
            Expires=deployment.expires,
            DeploymentName=deployment.name,
        )


GeoPairV1 = Annotated[
    GeoLocation,
    PlainSerializer(lambda location: list(location.as_pair()), return_type=list[float]),
]
"""A location as v1 sends it: `[latitude, longitude]`."""


class CloudletInfoV1(WireModel):
    """v1 `CloudletInfo`: what the original ST-2 posted and what `GET /api/v1/cloudlets/` lists.

    Locations travel as `[latitude, longitude]` pairs.
    """

    model_config = _V1_CONFIG

    uuid: CloudletId | None = None
    name: Name | None = None
    endpoint: AnyHttpUrl
    locations: list[GeoPairV1] = Field(default_factory=list, max_length=64)
    local_networks: list[IPNet] = Field(default_factory=list, max_length=256)
    accepted_clients: list[IPNet] = Field(default_factory=list, max_length=256)
    rejected_clients: list[IPNet] = Field(default_factory=list, max_length=256)
    resources: dict[Annotated[str, Field(max_length=128)], float] = Field(
        default_factory=dict, max_length=256
    )
    last_update: datetime | None = None
