"""Zeroconf browsing for just-in-time cloudlets (`_sinfonia._tcp.local.`) on chosen interfaces."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

import ifaddr
from pydantic import ValidationError
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from common.types import CloudletId
from tier3.schema import JitCloudlet

logger = logging.getLogger(__name__)

SERVICE_TYPE = "_sinfonia._tcp.local."
#: How long resolving one announced service (SRV, TXT, A records) may take, in seconds.
RESOLVE_TIMEOUT = 1.0
#: Announcements kept at most; a busy network cannot grow the table without bound.
MAX_CLOUDLETS = 64


class Discovery(Protocol):
    """What the backend manager needs from a source of just-in-time cloudlets."""

    async def fetch_cloudlets(self, wait_timeout: float) -> list[JitCloudlet]:
        """Cloudlets seen so far; waits up to `wait_timeout` if none was seen yet."""
        ...

    def get_cloudlets(self) -> list[JitCloudlet]: ...

    def forget(self, name: str) -> None:
        """Drop an announcement whose cloudlet did not answer (it is stale)."""
        ...


def resolve_interfaces(
    interfaces: Sequence[str], adapters: Sequence[ifaddr.Adapter] | None = None
) -> list[str]:
    """IPv4 addresses for the configured entries: addresses stay, interface names are looked up.

    Raises ValueError for a name that is neither, so a typo fails at start.
    """
    known: list[ifaddr.Adapter] = list(adapters or ifaddr.get_adapters())
    addresses: list[str] = []
    for entry in interfaces:
        try:
            address = ipaddress.ip_address(entry)
        except ValueError:
            pass
        else:
            if address.version != 4:
                raise ValueError(f"Zeroconf browsing is IPv4 only; {entry} is IPv6")
            local = {ip.ip for adapter in known for ip in adapter.ips if ip.is_IPv4}
            if str(address) not in local:
                raise ValueError(f"{entry} is not an address of any network interface here")
            addresses.append(str(address))
            continue
        matches = [adapter for adapter in known if adapter.nice_name == entry]
        if not matches:
            raise ValueError(f"no network interface named {entry!r}")
        found = [ip.ip for ip in matches[0].ips if ip.is_IPv4 and isinstance(ip.ip, str)]
        if not found:
            raise ValueError(f"network interface {entry!r} has no IPv4 address")
        addresses.extend(found)
    return list(dict.fromkeys(addresses))


def parse_announcement(
    name: str,
    properties: Mapping[bytes, bytes | None],
    addresses: Sequence[str],
    seen: datetime,
) -> JitCloudlet | None:
    """The cloudlet an announcement describes, or None when its TXT record is unusable."""
    text = {
        key.decode("utf-8", "replace"): value.decode("utf-8", "replace")
        for key, value in properties.items()
        if value is not None
    }
    api = text.get("api")
    if not api:
        logger.warning("ignoring Zeroconf announcement %s: no 'api' in its TXT record", name)
        return None
    cloudlet_id: CloudletId | None = None
    if text.get("uuid"):
        try:
            cloudlet_id = CloudletId(uuid.UUID(text["uuid"]))
        except ValueError:
            logger.warning("announcement %s has a malformed uuid %r", name, text["uuid"])
    try:
        return JitCloudlet.model_validate(
            {
                "name": name.removesuffix("." + SERVICE_TYPE),
                "uuid": cloudlet_id,
                "api": api,
                "version": text.get("version") or None,
                "addresses": list(addresses),
                "last_seen": seen,
            }
        )
    except ValidationError as exc:
        logger.warning("ignoring Zeroconf announcement %s: %s", name, exc.errors()[0]["msg"])
        return None


class ZeroconfDiscovery:
    """Browses continuously once started; a deploy reads the table, waiting only while it is new.

    Binds only the given IPv4 addresses (never every interface), IPv4 only.
    """

    def __init__(self, addresses: Sequence[str], *, resolve_timeout: float = RESOLVE_TIMEOUT):
        if not addresses:
            raise ValueError("Zeroconf discovery needs at least one interface address")
        self.addresses = list(addresses)
        self.resolve_timeout = resolve_timeout
        self._zeroconf: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._cloudlets: dict[str, JitCloudlet] = {}
        self._found = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = 0.0

    async def start(self) -> None:
        try:
            self._zeroconf = AsyncZeroconf(interfaces=self.addresses, ip_version=IPVersion.V4Only)
        except OSError as exc:
            raise ValueError(
                f"cannot browse Zeroconf on {', '.join(self.addresses)}: {exc}"
            ) from exc
        self._started = time.monotonic()
        self._browser = AsyncServiceBrowser(
            self._zeroconf.zeroconf, SERVICE_TYPE, handlers=[self._on_change]
        )
        logger.info("browsing Zeroconf for %s on %s", SERVICE_TYPE, ", ".join(self.addresses))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._zeroconf is not None:
            await self._zeroconf.async_close()
            self._zeroconf = None

    async def __aenter__(self) -> ZeroconfDiscovery:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def get_cloudlets(self) -> list[JitCloudlet]:
        return sorted(self._cloudlets.values(), key=lambda cloudlet: cloudlet.last_seen)

    async def fetch_cloudlets(self, wait_timeout: float) -> list[JitCloudlet]:
        remaining = self._started + wait_timeout - time.monotonic()
        if not self._cloudlets and remaining > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._found.wait()
        return self.get_cloudlets()

    def forget(self, name: str) -> None:
        if self._cloudlets.pop(name, None) is not None:
            logger.info("dropped stale just-in-time cloudlet %s", name)
        if not self._cloudlets:
            self._found.clear()

    def _on_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        del zeroconf
        if state_change is ServiceStateChange.Removed:
            self.forget(name.removesuffix("." + SERVICE_TYPE))
            return
        task = asyncio.get_running_loop().create_task(self._resolve(service_type, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        if self._zeroconf is None:
            return
        info = AsyncServiceInfo(service_type, name)
        try:
            answered = await info.async_request(
                self._zeroconf.zeroconf, int(self.resolve_timeout * 1000)
            )
        except Exception as exc:  # zeroconf raises its own errors when closing
            logger.debug("resolving %s failed: %s", name, exc)
            return
        if not answered:
            logger.debug("no answer resolving %s within %.1fs", name, self.resolve_timeout)
            return
        cloudlet = parse_announcement(
            name, info.properties, info.parsed_addresses(IPVersion.V4Only), datetime.now(UTC)
        )
        if cloudlet is None:
            return
        if cloudlet.name not in self._cloudlets and len(self._cloudlets) >= MAX_CLOUDLETS:
            logger.warning("ignoring %s: already %d just-in-time cloudlets", name, MAX_CLOUDLETS)
            return
        if cloudlet.name not in self._cloudlets:
            logger.info("found just-in-time cloudlet %s at %s", cloudlet.name, cloudlet.api)
        self._cloudlets[cloudlet.name] = cloudlet
        self._found.set()
