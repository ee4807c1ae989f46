"""Builds the texts a tunnel needs: wg-quick and `wg setconf` configurations, a resolv.conf."""

from __future__ import annotations

from common.tunnel import TunnelConfig


def _peer_section(tunnel: TunnelConfig, persistent_keepalive: int) -> list[str]:
    lines = [
        "[Peer]",
        f"PublicKey = {tunnel.public_key}",
        f"AllowedIPs = {', '.join(str(network) for network in tunnel.allowed_ips)}",
        f"Endpoint = {tunnel.endpoint}",
    ]
    if persistent_keepalive:
        lines.append(f"PersistentKeepalive = {persistent_keepalive}")
    return lines


def build_wg_quick(private_key: str, tunnel: TunnelConfig, *, persistent_keepalive: int) -> str:
    """A wg-quick file (`wg-quick up FILE`); it holds the private key: write it mode 0600."""
    lines = [
        "[Interface]",
        f"PrivateKey = {private_key}",
        f"Address = {', '.join(str(address) for address in tunnel.address)}",
    ]
    if tunnel.dns:
        lines.append(f"DNS = {', '.join(tunnel.dns)}")
    lines.append("")
    lines.extend(_peer_section(tunnel, persistent_keepalive))
    return "\n".join(lines) + "\n"


def build_setconf(private_key: str, tunnel: TunnelConfig, *, persistent_keepalive: int) -> str:
    """What `wg setconf` takes: the wg-quick file without Address and DNS."""
    lines = ["[Interface]", f"PrivateKey = {private_key}", ""]
    lines.extend(_peer_section(tunnel, persistent_keepalive))
    return "\n".join(lines) + "\n"


def build_resolv_conf(tunnel: TunnelConfig) -> str | None:
    """A resolv.conf pointing at the tunnel's resolvers, or None when it names none."""
    servers = tunnel.dns_servers
    if not servers:
        return None
    lines = [f"nameserver {server}" for server in servers[:3]]
    domains = tunnel.search_domains
    if domains:
        lines.append("search " + " ".join(domains))
        # Cluster names such as `svc.ns.svc.cluster.local` have dots; try the search list first.
        lines.append("options ndots:5")
    return "\n".join(lines) + "\n"
