"""Zeroconf announcement of the cloudlet (`_sinfonia._tcp.local.`) on configured interfaces only.

TXT records carry the cloudlet's `uuid`, its `api` base URL and the `version`.
There is no "all interfaces" default: an announcement leaks where it is sent,
so the operator names each interface (by name or IPv4 address).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Sequence

import ifaddr
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from common.types import CloudletId

logger = logging.getLogger(__name__)

SERVICE_TYPE = "_sinfonia._tcp.local."


def resolve_interfaces(names: Sequence[str]) -> list[str]:
    """IPv4 addresses of the given interfaces; an entry that is an address is kept as is."""
    adapters = {adapter.nice_name: adapter for adapter in ifaddr.get_adapters()}
    found: list[str] = []
    for entry in names:
        try:
            found.append(str(ipaddress.IPv4Address(entry)))
            continue
        except ValueError:
            pass
        adapter = adapters.get(entry)
        if adapter is None:
            raise ValueError(f"zeroconf interface {entry!r} does not exist")
        addresses = [str(ip.ip) for ip in adapter.ips if isinstance(ip.ip, str)]
        if not addresses:
            raise ValueError(f"zeroconf interface {entry!r} has no IPv4 address")
        found.extend(addresses)
    return list(dict.fromkeys(found))


def build_service_info(
    *, cloudlet: CloudletId, name: str, api_url: str, version: str, port: int, addresses: list[str]
) -> ServiceInfo:
    instance = f"{name}-{str(cloudlet)[:8]}".replace(".", "-")
    return ServiceInfo(
        SERVICE_TYPE,
        f"{instance}.{SERVICE_TYPE}",
        addresses=[socket.inet_aton(address) for address in addresses],
        port=port,
        properties={"uuid": str(cloudlet), "api": api_url, "version": version},
        server=f"sinfonia-{cloudlet.hex[:12]}.local.",
    )


class Announcer:
    """Registers the service on start and withdraws it (goodbye packets) on close."""

    def __init__(
        self,
        *,
        interfaces: Sequence[str],
        cloudlet: CloudletId,
        name: str,
        api_url: str,
        version: str,
        port: int,
    ) -> None:
        self._interfaces = list(interfaces)
        self._cloudlet = cloudlet
        self._name = name
        self._api_url = api_url
        self._version = version
        self._port = port
        self._zeroconf: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None

    async def start(self) -> None:
        addresses = resolve_interfaces(self._interfaces)
        self._info = build_service_info(
            cloudlet=self._cloudlet,
            name=self._name,
            api_url=self._api_url,
            version=self._version,
            port=self._port,
            addresses=addresses,
        )
        self._zeroconf = AsyncZeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
        await self._zeroconf.async_register_service(self._info, allow_name_change=True)
        logger.info("announced %s on %s", self._info.name, ", ".join(addresses))

    async def aclose(self) -> None:
        zc, self._zeroconf = self._zeroconf, None
        if zc is None:
            return
        try:
            if self._info is not None:
                await zc.async_unregister_service(self._info)
                logger.info("withdrew %s", self._info.name)
        finally:
            await zc.async_close()
