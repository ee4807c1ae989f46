"""The WireGuard tunnel a device brings up to reach its backend."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

from common.types import Endpoint, IPIface, IPNet, WireGuardKey
from common.wire import WireModel

_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?"
)


def _check_dns_entry(value: str) -> str:
    """A resolver address or a search domain, as wg-quick's `DNS =` takes them."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _DNS_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is neither an IP address nor a DNS search domain")
    return value


DnsEntry = Annotated[str, AfterValidator(_check_dns_entry)]


class TunnelConfig(WireModel):
    """What the device needs for its side of the tunnel (its private key stays on the device)."""

    public_key: WireGuardKey = Field(description="The cloudlet gateway's WireGuard public key.")
    endpoint: Endpoint = Field(description="Where the cloudlet gateway listens, host:port.")
    allowed_ips: Annotated[list[IPNet], Field(min_length=1, max_length=256)] = Field(
        description="Destinations routed into the tunnel."
    )
    address: Annotated[list[IPIface], Field(min_length=1, max_length=16)] = Field(
        description="The device's addresses inside the tunnel."
    )
    dns: Annotated[list[DnsEntry], Field(max_length=32)] = Field(
        default_factory=list, description="Resolver addresses first, then search domains."
    )

    @property
    def dns_servers(self) -> list[str]:
        return [entry for entry in self.dns if _is_address(entry)]

    @property
    def search_domains(self) -> list[str]:
        return [entry for entry in self.dns if not _is_address(entry)]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
