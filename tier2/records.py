"""Domain values of a deployment inside ST-2: its key, where it runs, and its lease."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from common.deployment import DeploymentStatus
from common.device import DeviceContext
from common.recipe import Recipe
from common.types import AppId, IPInterface, IPNetwork


@dataclass(frozen=True, slots=True)
class DeploymentKey:
    """One backend per app and device key; `client_key` is canonical standard base64."""

    app: AppId
    client_key: str

    @property
    def digest(self) -> str:
        """A short, label-safe hash of the pair (hex)."""
        return hashlib.sha256(f"{self.app}/{self.client_key}".encode()).hexdigest()[:40]


def key_digest(client_key: str) -> str:
    """A label-safe hash of a client key: Kubernetes label values cannot hold '+/='."""
    return hashlib.sha256(client_key.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class ServiceEndpoint:
    """Where the app reaches one port of its backend, once the tunnel is up."""

    name: str
    host: str
    port: int
    protocol: Literal["tcp", "udp"] = "tcp"


@dataclass(frozen=True, slots=True)
class Placement:
    """What a driver made for a deployment: its name, endpoints, and what to route to it."""

    name: str
    services: tuple[ServiceEndpoint, ...] = ()
    routes: tuple[IPNetwork, ...] = ()
    search_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """A deployment as ST-2 tracks it; drivers persist it where the cluster keeps state."""

    key: DeploymentKey
    app_name: str
    status: DeploymentStatus
    created: datetime
    expires: datetime
    lease_seconds: float
    client_address: IPInterface
    placement: Placement
    expiring_since: datetime | None = None

    @property
    def name(self) -> str:
        return self.placement.name

    def renewed(self, now: datetime) -> DeploymentRecord:
        """Deployed again with a fresh lease from `now`."""
        return dataclasses.replace(
            self,
            status=DeploymentStatus.DEPLOYED,
            expires=now + timedelta(seconds=self.lease_seconds),
            expiring_since=None,
        )

    def expiring(self, now: datetime) -> DeploymentRecord:
        return dataclasses.replace(self, status=DeploymentStatus.EXPIRING, expiring_since=now)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """Everything a driver needs to create one deployment."""

    key: DeploymentKey
    name: str
    recipe: Recipe
    device: DeviceContext
    client_address: IPInterface
    created: datetime
    expires: datetime
    lease_seconds: float
