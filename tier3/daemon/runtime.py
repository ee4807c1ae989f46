"""Assembles a backend manager from settings: HTTP client, keys, context, Zeroconf, tunnels."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry

from tier3.context import DeviceContextSource, FileLocation, FixedLocation, LocationProvider
from tier3.daemon.discovery import ZeroconfDiscovery, resolve_interfaces
from tier3.daemon.manager import BackendManager, Metrics
from tier3.daemon.peers import Peers, build_http_client
from tier3.daemon.tunnel import TunnelDriver, WireGuardTunnels
from tier3.keys import KeyStore
from tier3.settings import Tier3Settings

logger = logging.getLogger(__name__)


def build_location_provider(settings: Tier3Settings) -> LocationProvider:
    if settings.device.location_file is not None:
        return FileLocation(settings.device.location_file)
    return FixedLocation(settings.device.location)


def build_tunnels(settings: Tier3Settings, *, namespace: str | None = None) -> WireGuardTunnels:
    tunnel = settings.tunnel
    return WireGuardTunnels(
        mode=tunnel.mode,
        config_dir=settings.tunnel_config_dir(),
        interface_prefix=tunnel.interface_prefix,
        wireguard_go=tunnel.wireguard_go,
        persistent_keepalive=tunnel.persistent_keepalive,
        setup_timeout=tunnel.setup_timeout,
        namespace=namespace,
    )


@contextlib.asynccontextmanager
async def running_manager(
    settings: Tier3Settings,
    *,
    registry: CollectorRegistry | None = None,
    tunnels: TunnelDriver | None = None,
    location: LocationProvider | None = None,
    rng: random.Random | None = None,
    release_on_exit: bool = True,
) -> AsyncIterator[BackendManager]:
    """A started backend manager; on exit it releases what it holds and closes its clients."""
    interfaces = resolve_interfaces(settings.discovery.interfaces)
    http = build_http_client(
        connect_timeout=settings.tier1.connect_timeout,
        read_timeout=settings.tier1.deploy_timeout,
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(http.aclose)
        discovery: ZeroconfDiscovery | None = None
        if interfaces:
            discovery = await stack.enter_async_context(ZeroconfDiscovery(interfaces))
        manager = BackendManager(
            settings=settings,
            peers=Peers(
                http,
                deploy_timeout=settings.tier1.deploy_timeout,
                jit_deploy_timeout=settings.discovery.deploy_timeout,
                release_timeout=settings.tier1.release_timeout,
                connect_attempts=settings.tier1.connect_attempts,
            ),
            keys=KeyStore(settings.cache_dir),
            context=DeviceContextSource(
                location=location or build_location_provider(settings),
                network=settings.device.network,
            ),
            tunnels=tunnels or build_tunnels(settings),
            discovery=discovery,
            metrics=Metrics(registry or CollectorRegistry()),
            rng=rng,
        )
        try:
            yield manager
        finally:
            await manager.close(release=release_on_exit)
