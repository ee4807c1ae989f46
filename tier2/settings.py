"""Settings of the Tier-2 service, from `SINFONIA_TIER2_*` variables, a YAML file or flags."""

from __future__ import annotations

import enum
import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from common.cloudlet import Hardware
from common.geo import GeoLocation
from common.service.settings import Port, ServiceSettings
from common.tunnel import DnsEntry
from common.types import Endpoint, IPAddr, IPNet, Name, Seconds

_SECTION = ConfigDict(extra="forbid", frozen=True)


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sinfonia" / "tier2"


def _everyone() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0")]


class CloudletSettings(BaseModel):
    """Static attributes this cloudlet registers with; they change only by re-registering."""

    model_config = _SECTION

    name: Name = Field(
        default_factory=socket.gethostname, description="Human-readable name; default hostname."
    )
    owner: Name | None = Field(default=None, description="Operator of the cloudlet.")
    locations: Annotated[list[GeoLocation], Field(max_length=64)] = Field(
        default_factory=list, description="Where the cloudlet is, for proximity scoring."
    )
    local_networks: Annotated[list[IPNet], Field(max_length=256)] = Field(
        default_factory=list,
        description="Networks this cloudlet serves directly; JIT deploys are taken from them.",
    )
    accepted_clients: Annotated[list[IPNet], Field(max_length=256)] = Field(
        default_factory=_everyone, description="Client networks ST-1 may send here."
    )
    rejected_clients: Annotated[list[IPNet], Field(max_length=256)] = Field(
        default_factory=list, description="Client networks ST-1 must never send here."
    )
    hardware: Hardware | None = Field(
        default=None, description="What the cloudlet has; read from the cluster when absent."
    )


class Tier1Peer(BaseModel):
    """One ST-1 to register with; each has its own credential and keepalive interval."""

    model_config = _SECTION

    url: AnyHttpUrl = Field(description="Base URL of the ST-1, e.g. https://st1.example.org.")
    registration_token: SecretStr | None = Field(
        default=None, description="Shared token, when that ST-1's admission policy asks for one."
    )
    keepalive_interval: Seconds = Field(
        default=10.0, le=3600.0, description="Seconds between keepalives we ask for; ST-1 decides."
    )


class RegistrationSettings(BaseModel):
    """How registration and keepalives behave towards every ST-1."""

    model_config = _SECTION

    request_timeout: Seconds = Field(default=5.0, description="Seconds per call to an ST-1.")
    backoff_initial: Seconds = Field(default=1.0, description="First retry delay, seconds.")
    backoff_max: Seconds = Field(
        default=60.0, description="Largest retry delay (also used after a refusal), seconds."
    )
    deregister_timeout: Seconds = Field(
        default=3.0, description="Seconds to wait for deregistration calls at shutdown."
    )
    ready_poll_interval: Seconds = Field(
        default=2.0, description="Seconds between cluster readiness checks before registering."
    )


class DriverKind(enum.StrEnum):
    """Where backends run."""

    LOCAL = "local"
    KUBERNETES = "kubernetes"


class KubernetesSettings(BaseModel):
    """The Kubernetes cluster driver."""

    model_config = _SECTION

    kubeconfig: Path | None = Field(
        default=None, description="Kubeconfig file; absent means the in-cluster ServiceAccount."
    )
    context: str | None = Field(default=None, description="Kubeconfig context; default current.")
    connect_timeout: Seconds = Field(default=3.0, description="TCP/TLS connect timeout, seconds.")
    request_timeout: Seconds = Field(default=10.0, description="Read timeout per call, seconds.")
    attempts: Annotated[int, Field(ge=1, le=10)] = Field(
        default=3, description="Tries per idempotent call when the API server is unreachable."
    )
    ready_timeout: Seconds = Field(
        default=120.0, description="Seconds a new deployment's pods get to become ready."
    )
    poll_interval: Seconds = Field(default=0.1, description="Readiness poll period, seconds.")
    namespace_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,15}$")] = Field(
        default="sf-", description="Prefix of the namespaces ST-2 creates."
    )
    quota_cpu: Annotated[str, Field(max_length=32)] = Field(
        default="4", description="CPU quota per deployment when the recipe names no requirement."
    )
    quota_memory: Annotated[str, Field(max_length=32)] = Field(
        default="8Gi", description="Memory quota per deployment when the recipe names none."
    )
    quota_pods: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=20, description="Most pods one deployment may run."
    )
    default_cpu_request: Annotated[str, Field(max_length=32)] = Field(
        default="100m", description="CPU request given to containers that name none."
    )
    default_memory_request: Annotated[str, Field(max_length=32)] = Field(
        default="128Mi", description="Memory request given to containers that name none."
    )
    ingress_networks: Annotated[list[IPNet], Field(max_length=64)] = Field(
        default_factory=list,
        description="Extra networks (besides the tunnel's client pool) allowed into tenants.",
    )
    egress_networks: Annotated[list[IPNet], Field(max_length=64)] = Field(
        default_factory=list,
        description="Networks tenants may reach beyond their namespace and cluster DNS.",
    )
    cluster_domain: Annotated[str, Field(max_length=253)] = Field(
        default="cluster.local", description="The cluster's DNS domain, for search domains."
    )
    cluster_dns: Annotated[list[IPAddr], Field(max_length=4)] | None = Field(
        default=None, description="Cluster DNS addresses; absent means read kube-system/kube-dns."
    )


class LocalSettings(BaseModel):
    """The embedded local driver: recipe backends as supervised processes on this machine."""

    model_config = _SECTION

    bind_host: IPAddr = Field(
        default=ipaddress.IPv4Address("127.0.0.1"), description="Address backends listen on."
    )
    advertise_host: IPAddr | None = Field(
        default=None, description="Address devices use to reach backends; default bind_host."
    )
    ready_timeout: Seconds = Field(default=30.0, description="Seconds a backend gets to be ready.")
    stop_timeout: Seconds = Field(default=5.0, description="Seconds between SIGTERM and SIGKILL.")
    max_restarts: Annotated[int, Field(ge=0, le=100)] = Field(
        default=3, description="Restarts of a crashed backend before it is left down."
    )


class TunnelMode(enum.StrEnum):
    """How ST-2 provides the WireGuard gateway."""

    NONE = "none"
    MANAGED = "managed"
    EXTERNAL = "external"


class TunnelSettings(BaseModel):
    """The WireGuard gateway devices tunnel into."""

    model_config = _SECTION

    mode: TunnelMode = Field(
        default=TunnelMode.NONE,
        description=(
            "`none`: config only, no device (embedded default); `managed`: ST-2 creates the "
            "interface (kernel WireGuard, else wireguard-go); `external`: an existing interface."
        ),
    )
    interface: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,15}$")] = Field(
        default="sinfonia0", description="WireGuard interface name (unique on the host)."
    )
    listen_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=51820, description="UDP port the gateway listens on."
    )
    endpoint: Endpoint | None = Field(
        default=None, description="host:port devices dial; default the API host and listen_port."
    )
    client_pool: IPNet = Field(
        default=ipaddress.IPv4Network("10.64.0.0/16"),
        description="Addresses handed to devices; the first host is the gateway's own.",
    )
    dns: Annotated[list[DnsEntry], Field(max_length=32)] = Field(
        default_factory=list, description="Resolvers and search domains added to every tunnel."
    )
    routes: Annotated[list[IPNet], Field(max_length=64)] = Field(
        default_factory=list, description="Extra networks every tunnel routes to the cloudlet."
    )
    command_timeout: Seconds = Field(default=5.0, description="Seconds per `wg`/`ip` command.")

    @model_validator(mode="after")
    def _pool_has_room(self) -> TunnelSettings:
        if self.client_pool.num_addresses < 4:
            raise ValueError("client_pool needs room for the gateway and at least one device")
        return self


class LifecycleSettings(BaseModel):
    """Leases and the garbage collector."""

    model_config = _SECTION

    gc_interval: Seconds = Field(default=10.0, description="Seconds between collector runs.")
    expiring_grace: Seconds = Field(
        default=60.0, description="Seconds a deployment stays Expiring before it is reclaimed."
    )
    idle_timeout: Seconds = Field(
        default=180.0,
        description="A tunnel peer seen within this many seconds keeps its deployments alive.",
    )
    peer_linger: Annotated[float, Field(ge=0.0, le=60.0)] = Field(
        default=2.0,
        description="Seconds a device's tunnel peer outlives its last deployment (so a release "
        "made through the tunnel still gets its answer).",
    )
    max_lease: Seconds = Field(
        default=86400.0, description="Upper bound on a recipe's lease_seconds."
    )
    max_concurrent_deploys: Annotated[int, Field(ge=1, le=256)] = Field(
        default=8, description="Cold deploys run at once; more wait their turn."
    )


class MetricsSettings(BaseModel):
    """Where load figures come from."""

    model_config = _SECTION

    prometheus_url: AnyHttpUrl | None = Field(
        default=None, description="Prometheus to query; absent means read this host's /proc."
    )
    query_timeout: Seconds = Field(default=3.0, description="Seconds per PromQL query.")
    interval: Seconds = Field(default=10.0, description="Seconds between samples.")
    rate_window: Annotated[str, Field(pattern=r"^[0-9]+[smh]$")] = Field(
        default="1m", description="Window of rate() in PromQL."
    )
    network_device_exclude: Annotated[str, Field(max_length=512)] = Field(
        default="lo|veth.*|docker.*|cni.*|flannel.*|cali.*|cilium.*|kube-.*|tunl.*|vxlan.*|wg.*",
        description="Regex of network devices left out of bandwidth figures.",
    )


class ZeroconfSettings(BaseModel):
    """Announcing this cloudlet on the local network for just-in-time use."""

    model_config = _SECTION

    enabled: bool = Field(default=False, description="Announce `_sinfonia._tcp.local.`.")
    interfaces: Annotated[list[str], Field(max_length=16)] = Field(
        default_factory=list,
        description="Interface names or IPv4 addresses to announce on; required when enabled.",
    )


class Tier2Settings(ServiceSettings):
    """ST-2 cloudlet agent: deploys backends on its cluster and tunnels devices to them."""

    model_config = SettingsConfigDict(
        env_prefix="SINFONIA_TIER2_", extra="forbid", env_nested_delimiter="__"
    )

    port: Port = Field(default=5001, description="TCP port of the HTTP API; 0 picks a free one.")
    api_url: AnyHttpUrl | None = Field(
        default=None, description="Base URL ST-1s and devices use; default http://host:port."
    )
    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Directory (0700) holding the cloudlet UUID and WireGuard key (0600).",
    )
    recipes_dir: Path | None = Field(
        default=None, description="Recipes for JIT and v1 deploys, one YAML/JSON file per app."
    )
    jit: bool = Field(
        default=False, description="Take deploys without a credential from local_networks."
    )
    trusted_tier1_networks: Annotated[list[IPNet], Field(max_length=64)] = Field(
        default_factory=list,
        description="Callers here act as ST-1 without a credential (an original v1 ST-1).",
    )
    cloudlet: CloudletSettings = CloudletSettings()
    tier1: Annotated[list[Tier1Peer], Field(max_length=32)] = Field(
        default_factory=list, description="ST-1s to register with, each independently."
    )
    registration: RegistrationSettings = RegistrationSettings()
    driver: DriverKind = Field(default=DriverKind.LOCAL, description="`local` or `kubernetes`.")
    kubernetes: KubernetesSettings = KubernetesSettings()
    local: LocalSettings = LocalSettings()
    tunnel: TunnelSettings = TunnelSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    metrics: MetricsSettings = MetricsSettings()
    zeroconf: ZeroconfSettings = ZeroconfSettings()

    @model_validator(mode="after")
    def _zeroconf_needs_interfaces(self) -> Tier2Settings:
        if self.zeroconf.enabled and not self.zeroconf.interfaces:
            raise ValueError("zeroconf needs explicit interfaces; it never announces on all")
        return self

    def advertised_url(self) -> str:
        """The base URL registered with ST-1 and announced over Zeroconf, without a trailing /."""
        if self.api_url is not None:
            return str(self.api_url).rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - detecting the wildcard, not binding it
            raise ValueError("api_url must be set when the API binds a wildcard address")
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def tunnel_endpoint(self) -> str:
        """Where devices dial the gateway: the configured endpoint or the API's host."""
        if self.tunnel.endpoint is not None:
            return self.tunnel.endpoint
        host = AnyHttpUrl(self.advertised_url()).host or "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.tunnel.listen_port}"
