"""The device's side of the tunnel for one deployment: the `TunnelConfig` in every reply (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from common.tunnel import TunnelConfig
from common.types import IPAddress, IPNetwork
from tier2.records import DeploymentRecord


@dataclass(frozen=True, slots=True)
class TunnelInfo:
    """What every tunnel config of this cloudlet shares."""

    public_key: str
    endpoint: str
    gateway: IPAddress
    dns_servers: tuple[IPAddress, ...] = ()
    search_domains: tuple[str, ...] = ()
    routes: tuple[IPNetwork, ...] = ()


def split_dns(entries: Iterable[str]) -> tuple[tuple[IPAddress, ...], tuple[str, ...]]:
    """Resolver addresses and search domains, from a mixed `DNS =` style list."""
    servers: list[IPAddress] = []
    domains: list[str] = []
    for entry in entries:
        try:
            servers.append(ipaddress.ip_address(entry))
        except ValueError:
            domains.append(entry)
    return tuple(servers), tuple(domains)


def build_tunnel_config(record: DeploymentRecord, info: TunnelInfo) -> TunnelConfig:
    """Route the gateway, the deployment's service addresses and DNS into the tunnel."""
    allowed: list[IPNetwork] = []
    for network in (
        ipaddress.ip_network(info.gateway),
        *record.placement.routes,
        *(ipaddress.ip_network(server) for server in info.dns_servers),
        *info.routes,
    ):
        if network not in allowed:
            allowed.append(network)
    domains = [*record.placement.search_domains, *info.search_domains]
    return TunnelConfig(
        public_key=info.public_key,
        endpoint=info.endpoint,
        allowed_ips=allowed,
        address=[record.client_address],
        dns=[*(str(server) for server in info.dns_servers), *dict.fromkeys(domains)],
    )
