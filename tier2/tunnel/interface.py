"""The seam between the lifecycle and the WireGuard gateway: peers in, usage out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from common.types import IPInterface
from tier2.lifecycle import PeerUsage


class TunnelGateway(Protocol):
    """One peer per device key on the cloudlet's WireGuard interface."""

    public_key: str

    async def start(self) -> None:
        """Bring the gateway up (or check that it is)."""

    async def set_peers(self, peers: Mapping[str, IPInterface]) -> None:
        """Make the peer set exactly `peers` (client key → its tunnel address)."""

    async def add_peer(self, client_key: str, address: IPInterface) -> None:
        """Let `client_key` in with `address` as its only source address."""

    async def remove_peer(self, client_key: str) -> None:
        """Remove a peer; removing a missing one is no error."""

    async def fetch_usage(self) -> Mapping[str, PeerUsage] | None:
        """Handshakes and bytes per peer; None when this gateway has no such signal.

        Raises `UnavailableError` when the signal exists but cannot be read now.
        """

    async def repair(self) -> bool:
        """Bring the interface back if it vanished; True when it did (its peers are gone too,
        so the caller sets them again). Raises `UnavailableError` when it cannot."""

    async def aclose(self) -> None:
        """Take down what `start` brought up."""


class ConfigOnlyGateway:
    """No device: tunnel configs are handed out, nothing is configured (embedded default)."""

    def __init__(self, public_key: str) -> None:
        self.public_key = public_key

    async def start(self) -> None:
        return None

    async def set_peers(self, peers: Mapping[str, IPInterface]) -> None:
        return None

    async def add_peer(self, client_key: str, address: IPInterface) -> None:
        return None

    async def remove_peer(self, client_key: str) -> None:
        return None

    async def fetch_usage(self) -> Mapping[str, PeerUsage] | None:
        return None

    async def repair(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None
