"""Deploy requests and the deployments they produce (native API)."""

from __future__ import annotations

import enum
import re
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from common.device import DeviceContext
from common.tunnel import TunnelConfig
from common.types import AppId, CloudletId, Name, WireGuardKey
from common.wire import WireModel

MAX_RESULTS = 3

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


class Deployment(WireModel):
    """A backend running on one cloudlet for one device key."""

    cloudlet: CloudletId
    cloudlet_name: Name | None = None
    app: AppId
    client_public_key: WireGuardKey
    name: DeploymentName
    status: DeploymentStatus
    created: AwareDatetime
    expires: AwareDatetime | None = None
    tunnel: TunnelConfig


class DeployResponse(WireModel):
    """The short list, best first."""

    deployments: Annotated[list[Deployment], Field(max_length=MAX_RESULTS)]
