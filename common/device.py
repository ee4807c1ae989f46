"""What a device tells ST-1 about itself when it asks for a backend."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from common.geo import GeoLocation
from common.types import Count, IPAddr, Name
from common.wire import WireModel


class NetworkType(enum.StrEnum):
    """How the device is connected; a value this version does not know reads as `unknown`."""

    UNKNOWN = "unknown"
    ETHERNET = "ethernet"
    WIFI = "wifi"
    LTE = "lte"
    NR = "5g"
    CELLULAR = "cellular"


_KNOWN_NETWORK_TYPES = frozenset(member.value for member in NetworkType)


def _tolerate_new_network_types(value: Any) -> Any:
    if isinstance(value, str) and value.lower() not in _KNOWN_NETWORK_TYPES:
        return NetworkType.UNKNOWN
    return value.lower() if isinstance(value, str) else value


class DeviceHardware(WireModel):
    """The device's own resources, for recipes that split work by what the device can do."""

    cpu_cores: Count | None = None
    memory_bytes: Count | None = None
    gpus: Annotated[list[Name], Field(max_length=16)] = Field(default_factory=list)
    architecture: Annotated[str, Field(max_length=64)] | None = None


class DeviceContext(WireModel):
    """Context ST-3 adds to a deploy request.

    `address` is what the device believes; ST-1 uses the address it sees on
    the connection unless the request came through a trusted proxy.
    """

    address: IPAddr | None = None
    location: GeoLocation | None = None
    hardware: DeviceHardware = DeviceHardware()
    network: Annotated[NetworkType, BeforeValidator(_tolerate_new_network_types)] = (
        NetworkType.UNKNOWN
    )
