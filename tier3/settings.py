"""Settings of the Tier-3 daemon and CLI: flags > `SINFONIA_TIER3_*` variables > YAML > defaults."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import SettingsConfigDict

from common.deployment import Results
from common.device import NetworkType
from common.geo import GeoLocation
from common.service.settings import Port, RateLimitSettings, ServiceSettings
from common.types import Seconds
from tier3.keys import default_cache_dir
from tier3.schema import Strategy, Tier1Api, TunnelMode


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier1Settings(_Section):
    """How ST-3 talks to the orchestrator."""

    url: AnyHttpUrl | None = Field(
        default=None,
        description="ST-1 base URL used when a request names none. Default: none (must be given).",
    )
    api: Tier1Api = Field(
        default=Tier1Api.V2,
        description="`v2` (native) or `v1` (the original Sinfonia API, for old orchestrators).",
    )
    results: Results = Field(
        default=3, description="Deployments asked for (1 to 3); unchosen ones are released."
    )
    connect_timeout: Seconds = Field(
        default=3.0, description="Seconds to open a connection to ST-1 or an ST-2."
    )
    deploy_timeout: Seconds = Field(
        default=60.0,
        description="Seconds ST-1 may take to answer a deploy (it waits for the cloudlets).",
    )
    release_timeout: Seconds = Field(
        default=5.0, description="Seconds a release call may take; leases expire otherwise."
    )
    connect_attempts: Annotated[int, Field(ge=1, le=5)] = Field(
        default=3,
        description="Tries to connect to ST-1 before giving up (only failed connects are retried).",
    )


class ChoiceSettings(_Section):
    """How one deployment is picked from the short list."""

    strategy: Strategy = Field(default=Strategy.FIRST, description="`first`, `random` or `probe`.")
    probe_timeout: Seconds = Field(
        default=0.5,
        description="Seconds all probes together may take; unanswered candidates rank last.",
    )
    probe_samples: Annotated[int, Field(ge=1, le=10)] = Field(
        default=2, description="Round-trip samples per candidate; the fastest counts."
    )


class DiscoverySettings(_Section):
    """Zeroconf browsing for just-in-time cloudlets on the local network."""

    interfaces: list[str] = Field(
        default_factory=list,
        description=(
            "IPv4 addresses or interface names to browse on. Empty (the default) turns "
            "browsing off: Sinfonia never browses every interface by itself."
        ),
    )
    browse_timeout: Annotated[float, Field(gt=0.0, le=10.0)] = Field(
        default=1.0, description="Seconds a deploy waits for announcements (at most 10)."
    )
    static_scoping: bool = Field(
        default=False,
        description="Skip ST-1 entirely when a just-in-time cloudlet gave a deployment.",
    )
    deploy_timeout: Seconds = Field(
        default=30.0, description="Seconds a just-in-time cloudlet may take to deploy."
    )


class TunnelSettings(_Section):
    """The WireGuard tunnel to the chosen backend."""

    mode: Literal["auto"] | TunnelMode = Field(
        default="auto",
        description=(
            "`auto` (kernel WireGuard if present, else wireguard-go, else config-only when "
            "unprivileged), `kernel`, `userspace` or `config-only`."
        ),
    )
    interface_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{0,5}$")] = Field(
        default="sft", description="Interface names are this prefix plus 6 random hex digits."
    )
    wireguard_go: str = Field(default="wireguard-go", description="The userspace implementation.")
    persistent_keepalive: Annotated[int, Field(ge=0, le=3600)] = Field(
        default=25, description="Seconds between keepalives through NAT (0 turns them off)."
    )
    setup_timeout: Seconds = Field(
        default=10.0, description="Seconds to bring an interface up before giving up."
    )
    config_dir: Path | None = Field(
        default=None,
        description="Where config-only files go. Default: `<cache dir>/tunnels`.",
    )


class DeviceSettings(_Section):
    """What the device tells ST-1 about itself."""

    location: GeoLocation | None = Field(
        default=None, description="Fixed location, `lat,lon` (a device that does not move)."
    )
    location_file: Path | None = Field(
        default=None,
        description="A file holding `lat,lon`, kept current by a location provider (a GPS daemon).",
    )
    network: NetworkType | None = Field(
        default=None, description="Network type; detected from the default route when unset."
    )


class Tier3Settings(ServiceSettings):
    """ST-3 device daemon: gets an app a backend on a nearby cloudlet and tunnels to it."""

    model_config = SettingsConfigDict(
        env_prefix="SINFONIA_TIER3_", extra="forbid", env_nested_delimiter="__"
    )

    port: Port = Field(default=5002, description="TCP port of the HTTP API; 0 picks a free one.")
    unix_socket: Path | None = Field(
        default=None,
        description="Serve on this Unix socket (mode 0600) instead of TCP on loopback.",
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Where per-app keys live (`keys/`, mode 0700). Default: XDG cache dir.",
    )
    tier1: Tier1Settings = Tier1Settings()
    choice: ChoiceSettings = ChoiceSettings()
    discovery: DiscoverySettings = DiscoverySettings()
    tunnel: TunnelSettings = TunnelSettings()
    device: DeviceSettings = DeviceSettings()
    rate_limit: RateLimitSettings = Field(
        default_factory=lambda: RateLimitSettings(enabled=False, exempt_networks=[]),
        description=(
            "Off by default: only this device's own programs reach the daemon (loopback or a "
            "0600 Unix socket), and each deploy is one request. Turned on, it applies to "
            "loopback TCP clients too (a Unix socket has no address to count by)."
        ),
    )
    shutdown_timeout: Seconds = Field(
        default=10.0, description="Seconds the daemon spends releasing backends when it stops."
    )

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        """The daemon serves this device only: it never binds beyond loopback."""
        if value == "localhost":
            return value
        try:
            address = ipaddress.ip_address(value)
        except ValueError as exc:
            raise ValueError("host must be a loopback address such as 127.0.0.1") from exc
        if not address.is_loopback:
            raise ValueError(f"host {value} is not a loopback address; the daemon binds loopback")
        return value

    def tunnel_config_dir(self) -> Path:
        return self.tunnel.config_dir or self.cache_dir / "tunnels"
