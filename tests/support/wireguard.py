"""A device-side wg-quick config for a deployment's tunnel, for tests that bring one up."""

from __future__ import annotations

from common.deployment import Deployment


def device_config(private_key: str, deployment: Deployment) -> str:
    """The `[Interface]`/`[Peer]` text the harness's `wireguard_up` takes."""
    tunnel = deployment.tunnel
    return "\n".join(
        [
            "[Interface]",
            f"PrivateKey = {private_key}",
            f"Address = {', '.join(str(a) for a in tunnel.address)}",
            "",
            "[Peer]",
            f"PublicKey = {tunnel.public_key}",
            f"AllowedIPs = {', '.join(str(n) for n in tunnel.allowed_ips)}",
            f"Endpoint = {tunnel.endpoint}",
            "PersistentKeepalive = 1",
            "",
        ]
    )
