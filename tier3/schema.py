"""The daemon's HTTP API shapes, shared by the daemon and the SDK that calls it."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import AnyHttpUrl, AwareDatetime, Field

from common.deployment import BackendService, Deployment, Results
from common.types import AppId, CloudletId, IPAddr, Name
from common.wire import WireModel


class Strategy(enum.StrEnum):
    """How ST-3 picks one deployment from the short list."""

    FIRST = "first"
    """The first of the list: a JIT cloudlet if one was found, else ST-1's best."""
    RANDOM = "random"
    """Any of the list, uniformly (spreads devices over equally good cloudlets)."""
    PROBE = "probe"
    """The one with the lowest measured round trip plus test request, within a time bound."""


class Tier1Api(enum.StrEnum):
    """Which ST-1 API to speak: the native one, or the original's for old orchestrators."""

    V2 = "v2"
    V1 = "v1"


class TunnelMode(enum.StrEnum):
    """How the tunnel to the chosen backend was set up."""

    KERNEL = "kernel"
    USERSPACE = "userspace"
    CONFIG_ONLY = "config-only"
    """Nothing was brought up: a wg-quick file and a resolv.conf were written instead."""


class BackendSource(enum.StrEnum):
    """Where the chosen deployment came from."""

    TIER1 = "tier1"
    JIT = "jit"


class DeployBackendRequest(WireModel):
    """An app asks the daemon for a backend; unset fields take the daemon's configured values."""

    app: AppId
    tier1_url: AnyHttpUrl | None = Field(
        default=None, description="ST-1 base URL; the daemon's configured one when absent."
    )
    strategy: Strategy | None = None
    results: Results | None = Field(
        default=None, description="How many deployments to ask ST-1 for (1 to 3)."
    )
    discover: bool | None = Field(
        default=None, description="Browse Zeroconf for just-in-time cloudlets first."
    )
    static_scoping: bool | None = Field(
        default=None, description="Skip ST-1 entirely when a just-in-time cloudlet answered."
    )
    tier1_api: Tier1Api | None = None


class TunnelState(WireModel):
    """The device side of the tunnel to the chosen backend."""

    mode: TunnelMode
    interface: Annotated[str, Field(max_length=15)] | None = None
    config_file: str | None = Field(default=None, description="The wg-quick file, if written.")
    resolv_conf: str | None = Field(default=None, description="The resolv.conf, if written.")
    message: str | None = Field(default=None, description="Why the tunnel is config-only.")


class Backend(WireModel):
    """The backend an app is using now.

    `generation` grows by one each time the backend changes (a handoff to
    another cloudlet), so an app can wait for the next one.
    """

    app: AppId
    generation: Annotated[int, Field(ge=1)]
    source: BackendSource
    tier1_url: AnyHttpUrl | None = None
    strategy: Strategy
    deployment: Deployment
    tunnel: TunnelState
    activated: AwareDatetime
    candidates: Annotated[int, Field(ge=1)] = 1

    @property
    def services(self) -> list[BackendService]:
        """Where the app reaches its backend through the tunnel."""
        return self.deployment.services


class JitCloudlet(WireModel):
    """A cloudlet announcing itself on the local network over Zeroconf."""

    name: Name
    uuid: CloudletId | None = None
    api: AnyHttpUrl
    version: Annotated[str, Field(max_length=64)] | None = None
    addresses: list[IPAddr] = Field(default_factory=list)
    last_seen: AwareDatetime
