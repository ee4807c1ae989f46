"""Wires ST-2 together from its settings, and runs and stops its background loops.

`running(settings, instruments)` is the lifespan's one dependency: it builds
the driver, tunnel, manager, load sampler, ST-1 sessions and announcer, starts
the loops, and on exit stops them in order (loops, deregistration,
announcement, in-flight deploys, tunnel, driver, HTTP client).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
from pydantic import AnyHttpUrl

from common import __version__
from common.cloudlet import CloudletMetrics, CloudletStatic
from common.errors import SinfoniaError, UnavailableError
from common.service.loops import LoopGroup
from common.service.retry import Backoff
from tier2.addresses import AddressPool
from tier2.announce import Announcer
from tier2.deployments import DeploymentManager
from tier2.drivers.interface import ClusterDriver
from tier2.drivers.kubernetes.driver import KubernetesDriver
from tier2.drivers.kubernetes.setup import build_kubernetes_driver
from tier2.drivers.local import LocalDriver, LocalDriverConfig
from tier2.hostmetrics import HostLoad
from tier2.identity import CloudletIdentity, load_identity
from tier2.instruments import Instruments
from tier2.lifecycle import LeasePolicy
from tier2.metrics import LoadSampler, LoadSource, to_wire
from tier2.peers import PeerTable
from tier2.prometheus import PrometheusLoad
from tier2.recipes import RecipeBook, load_recipes
from tier2.registration import Registrations, RoundPolicy, Tier1Session
from tier2.settings import CloudletSettings, DriverKind, Tier2Settings, TunnelMode
from tier2.tier1_client import Tier1Client
from tier2.tunnel.config import TunnelInfo, split_dns
from tier2.tunnel.device import ManagedInterface
from tier2.tunnel.interface import ConfigOnlyGateway, TunnelGateway
from tier2.tunnel.wireguard import WireGuardGateway

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Who may ask for deployments without an ST-1 credential."""

    jit: bool
    local_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    trusted_tier1_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@dataclass(slots=True)
class Runtime:
    """Everything the routes use, built once per process."""

    identity: CloudletIdentity
    cloudlet: CloudletSettings
    api_url: str
    manager: DeploymentManager
    recipes: RecipeBook
    sampler: LoadSampler
    tunnel_info: TunnelInfo
    access: AccessPolicy
    registrations: Registrations = field(default_factory=lambda: Registrations([]))
    started: bool = False
    _static: CloudletStatic | None = field(default=None, repr=False)

    async def check_cluster(self) -> None:
        """Ready means: the deployments were found again and the cluster can deploy."""
        if not self.started:
            raise UnavailableError("ST-2 is still reading its deployments from the cluster")
        await self.manager.driver.check_ready()

    async def static_info(self) -> CloudletStatic:
        """What this cloudlet registers with; hardware is read from the cluster once."""
        if self._static is None:
            cloudlet = self.cloudlet
            hardware = cloudlet.hardware or await self.manager.driver.fetch_hardware()
            self._static = CloudletStatic(
                uuid=self.identity.uuid,
                name=cloudlet.name,
                endpoint=AnyHttpUrl(self.api_url),
                public_key=self.identity.public_key,
                owner=cloudlet.owner,
                locations=cloudlet.locations,
                local_networks=cloudlet.local_networks,
                accepted_clients=cloudlet.accepted_clients,
                rejected_clients=cloudlet.rejected_clients,
                hardware=hardware,
            )
        return self._static

    def metrics_now(self, rtt: float | None) -> CloudletMetrics:
        """The dynamic attributes for a keepalive, from the latest load sample."""
        return to_wire(self.sampler.latest.cluster, backends=self.manager.apps(), rtt=rtt)


def build_driver(settings: Tier2Settings, identity: CloudletIdentity) -> ClusterDriver:
    if settings.driver is DriverKind.KUBERNETES:
        return build_kubernetes_driver(settings.kubernetes, settings.tunnel, identity.uuid)
    local = settings.local
    return LocalDriver(
        LocalDriverConfig(
            bind_host=local.bind_host,
            advertise_host=local.advertise_host or local.bind_host,
            ready_timeout=local.ready_timeout,
            stop_timeout=local.stop_timeout,
            max_restarts=local.max_restarts,
        )
    )


def build_gateway(
    settings: Tier2Settings, identity: CloudletIdentity, pool: AddressPool
) -> TunnelGateway:
    tunnel = settings.tunnel
    if tunnel.mode is TunnelMode.NONE:
        return ConfigOnlyGateway(identity.public_key)
    device = None
    if tunnel.mode is TunnelMode.MANAGED:
        device = ManagedInterface(
            name=tunnel.interface,
            key_path=identity.key_path,
            listen_port=tunnel.listen_port,
            address=pool.gateway_interface,
            command_timeout=tunnel.command_timeout,
        )
    return WireGuardGateway(
        interface=tunnel.interface,
        public_key=identity.public_key,
        command_timeout=tunnel.command_timeout,
        device=device,
    )


def build_load_source(settings: Tier2Settings) -> LoadSource:
    metrics = settings.metrics
    if metrics.prometheus_url is None:
        return HostLoad(device_exclude=metrics.network_device_exclude)
    return PrometheusLoad(
        str(metrics.prometheus_url),
        query_timeout=metrics.query_timeout,
        window=metrics.rate_window,
        device_exclude=metrics.network_device_exclude,
    )


async def build_tunnel_info(
    settings: Tier2Settings, identity: CloudletIdentity, driver: ClusterDriver, pool: AddressPool
) -> TunnelInfo:
    servers, domains = split_dns(settings.tunnel.dns)
    if isinstance(driver, KubernetesDriver):
        cluster_dns = settings.kubernetes.cluster_dns
        if cluster_dns is None:
            try:
                cluster_dns = await driver.fetch_cluster_dns()
            except SinfoniaError as exc:
                logger.warning("cluster DNS unknown, tunnels get none: %s", exc)
                cluster_dns = []
        servers = (*cluster_dns, *servers)
    return TunnelInfo(
        public_key=identity.public_key,
        endpoint=settings.tunnel_endpoint(),
        gateway=pool.gateway,
        dns_servers=tuple(dict.fromkeys(servers)),
        search_domains=domains,
        routes=tuple(settings.tunnel.routes),
    )


@asynccontextmanager
async def running(settings: Tier2Settings, instruments: Instruments) -> AsyncIterator[Runtime]:
    """Build and start ST-2; stop everything in order on exit."""
    identity = load_identity(settings.state_dir)
    recipes = load_recipes(settings.recipes_dir) if settings.recipes_dir else RecipeBook()
    api_url = settings.advertised_url()
    async with AsyncExitStack() as stack:
        driver = build_driver(settings, identity)
        stack.push_async_callback(driver.aclose)
        pool = AddressPool(settings.tunnel.client_pool)
        gateway = build_gateway(settings, identity, pool)
        await gateway.start()
        stack.push_async_callback(gateway.aclose)
        lifecycle = settings.lifecycle
        manager = DeploymentManager(
            driver=driver,
            peers=PeerTable(tunnel=gateway, pool=pool, linger=lifecycle.peer_linger),
            policy=LeasePolicy(
                idle_timeout=lifecycle.idle_timeout, expiring_grace=lifecycle.expiring_grace
            ),
            max_lease=lifecycle.max_lease,
            max_concurrent=lifecycle.max_concurrent_deploys,
            instruments=instruments,
        )
        stack.push_async_callback(manager.aclose)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.registration.request_timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        )
        stack.push_async_callback(http.aclose)
        runtime = Runtime(
            identity=identity,
            cloudlet=settings.cloudlet,
            api_url=api_url,
            manager=manager,
            recipes=recipes,
            sampler=LoadSampler(build_load_source(settings), instruments),
            tunnel_info=await build_tunnel_info(settings, identity, driver, pool),
            access=AccessPolicy(
                jit=settings.jit,
                local_networks=tuple(settings.cloudlet.local_networks),
                trusted_tier1_networks=tuple(settings.trusted_tier1_networks),
            ),
        )
        registration = settings.registration
        policy = RoundPolicy(
            backoff=Backoff(registration.backoff_initial, registration.backoff_max),
            ready_poll_interval=registration.ready_poll_interval,
        )
        sessions = [
            Tier1Session(
                client=Tier1Client(http, str(peer.url)),
                requested_interval=peer.keepalive_interval,
                registration_token=(
                    peer.registration_token.get_secret_value() if peer.registration_token else None
                ),
                static_info=runtime.static_info,
                cluster_ready=runtime.check_cluster,
                metrics=runtime.metrics_now,
                policy=policy,
                instruments=instruments,
            )
            for peer in settings.tier1
        ]
        runtime.registrations = registrations = Registrations(sessions)

        async def start_step() -> float | None:
            if runtime.started:
                return 3600.0
            try:
                await manager.start()
            except SinfoniaError as exc:
                logger.warning("cannot read deployments from the cluster yet: %s", exc)
                return registration.ready_poll_interval
            runtime.started = True
            return 3600.0

        await start_step()
        if settings.zeroconf.enabled:
            announcer = Announcer(
                interfaces=settings.zeroconf.interfaces,
                cloudlet=identity.uuid,
                name=settings.cloudlet.name,
                api_url=api_url,
                version=__version__,
                port=AnyHttpUrl(api_url).port or settings.port,
            )
            await announcer.start()
            stack.push_async_callback(announcer.aclose)
        stack.push_async_callback(registrations.deregister_all, registration.deregister_timeout)
        loops = LoopGroup()
        stack.push_async_callback(loops.stop)
        if not runtime.started:
            loops.start("start", start_step, interval=registration.ready_poll_interval)

        async def collect_step() -> None:
            if runtime.started:
                await manager.collect()

        async def sample_step() -> None:
            await runtime.sampler.step()

        loops.start(
            "collect",
            collect_step,
            interval=lifecycle.gc_interval,
            initial_delay=lifecycle.gc_interval,
        )
        loops.start("metrics", sample_step, interval=settings.metrics.interval)
        for session in sessions:
            loops.start(f"tier1 {session.url}", session.step, interval=policy.ready_poll_interval)
        yield runtime
