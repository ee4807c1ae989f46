"""Deploy requests and the deployments they produce (native API)."""

from __future__ import annotations

import enum
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, AwareDatetime, Field

from common.device import DeviceContext
from common.recipe import Recipe
from common.tunnel import TunnelConfig
from common.types import AppId, CloudletId, Name, WireGuardKey
from common.wire import WireModel

MAX_RESULTS = 3

Port = Annotated[int, Field(ge=1, le=65535)]

_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _check_deployment_name(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError("a deployment name is a DNS label: lower-case letters, digits and '-'")
    return value


DeploymentName = Annotated[str, AfterValidator(_check_deployment_name)]
"""A deployment's name on its cloudlet; a valid Kubernetes namespace name."""

Results = Annotated[int, Field(ge=1, le=MAX_RESULTS)]
"""How many deployments a device asks for: 1 to 3."""


class DeploymentStatus(enum.StrEnum):
    """Where a deployment is in its life, with the original's spelling."""

    INITIALIZING = "Initializing"
    DEPLOYED = "Deployed"
    EXPIRING = "Expiring"
    EXPIRED = "Expired"


class DeployRequest(WireModel):
    """A device asks ST-1 for a backend of `app`, reachable with `client_public_key`."""

    app: AppId
    client_public_key: WireGuardKey
    device: DeviceContext = DeviceContext()
    results: Results = 1


class CloudletDeployRequest(WireModel):
    """ST-1 (or, for a just-in-time cloudlet, ST-3) asks one ST-2 to deploy a backend."""

    app: AppId
    client_public_key: WireGuardKey
    device: DeviceContext = DeviceContext()
    recipe: Recipe | None = Field(
        default=None, description="Absent when a device asks a JIT cloudlet that has its own."
    )


class BackendService(WireModel):
    """Where the app reaches its backend once the tunnel is up."""

    name: Name
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Port
    protocol: Literal["tcp", "udp"] = "tcp"


class Deployment(WireModel):
    """A backend running on one cloudlet for one device key."""

    cloudlet: CloudletId
    cloudlet_name: Name | None = None
    cloudlet_endpoint: AnyHttpUrl | None = Field(
        default=None, description="The ST-2 API holding this deployment, for renewal and release."
    )
    app: AppId
    client_public_key: WireGuardKey
    name: DeploymentName
    status: DeploymentStatus
    created: AwareDatetime
    expires: AwareDatetime | None = None
    tunnel: TunnelConfig
    services: Annotated[list[BackendService], Field(max_length=64)] = Field(default_factory=list)


class DeployResponse(WireModel):
    """The short list, best first."""

    deployments: Annotated[list[Deployment], Field(max_length=MAX_RESULTS)]
