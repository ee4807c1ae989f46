"""What the device knows about itself: hardware, network type and location, for ST-1's choice."""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from common.device import DeviceContext, DeviceHardware, NetworkType
from common.geo import GeoLocation

logger = logging.getLogger(__name__)

PROC_ROUTE = Path("/proc/net/route")
SYS_NET = Path("/sys/class/net")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
_CELLULAR_PREFIXES = ("wwan", "rmnet", "ccmni", "usb")


class LocationProvider(Protocol):
    """Tells where the device is now, or None when it does not know."""

    def get_location(self) -> GeoLocation | None: ...


class FixedLocation:
    """A device that does not move, or one told where it is."""

    def __init__(self, location: GeoLocation | None) -> None:
        self.location = location

    def get_location(self) -> GeoLocation | None:
        return self.location


class FileLocation:
    """Reads `lat,lon` from a file a location daemon keeps up to date; unreadable means unknown."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get_location(self) -> GeoLocation | None:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            logger.warning("cannot read the location file %s: %s", self.path, exc)
            return None
        try:
            return GeoLocation.from_header(text)
        except ValidationError:
            logger.warning("the location file %s does not hold 'lat,lon'", self.path)
            return None


def load_hardware() -> DeviceHardware:
    """Cores, memory and NVIDIA GPUs of this machine (read once at start)."""
    memory: int | None = None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = None
    return DeviceHardware(
        cpu_cores=os.cpu_count(),
        memory_bytes=memory,
        gpus=_nvidia_gpus(),
        architecture=platform.machine() or None,
    )


def _nvidia_gpus() -> list[str]:
    models: list[str] = []
    try:
        entries = sorted(NVIDIA_GPUS.iterdir())
    except OSError:
        return models
    for entry in entries[:16]:
        try:
            text = (entry / "information").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model" and value.strip():
                models.append(value.strip()[:253])
    return models


def detect_network_type(proc_route: Path = PROC_ROUTE, sys_net: Path = SYS_NET) -> NetworkType:
    """The type of the interface holding the default route (wifi, cellular, ethernet)."""
    interface = _default_route_interface(proc_route)
    if interface is None:
        return NetworkType.UNKNOWN
    if (sys_net / interface / "wireless").exists() or (sys_net / interface / "phy80211").exists():
        return NetworkType.WIFI
    if interface.startswith(_CELLULAR_PREFIXES):
        return NetworkType.CELLULAR
    if (sys_net / interface / "device").exists():
        return NetworkType.ETHERNET
    return NetworkType.UNKNOWN


def _default_route_interface(proc_route: Path) -> str | None:
    try:
        lines = proc_route.read_text(encoding="ascii").splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[1] == "00000000":
            return fields[0]
    return None


class DeviceContextSource:
    """Builds the `DeviceContext` each deploy request carries.

    Hardware is read once; the network type and location are read per request,
    because a device moves. The public address is left to ST-1, which sees it.
    """

    def __init__(
        self,
        *,
        location: LocationProvider,
        network: NetworkType | None = None,
        hardware: DeviceHardware | None = None,
        detect_network: Callable[[], NetworkType] = detect_network_type,
    ) -> None:
        self._location = location
        self._network = network
        self._hardware = hardware if hardware is not None else load_hardware()
        self._detect_network = detect_network

    def get_context(self) -> DeviceContext:
        return DeviceContext(
            location=self._location.get_location(),
            hardware=self._hardware,
            network=self._network or self._detect_network(),
        )
