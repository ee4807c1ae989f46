"""The WireGuard gateway driven with `wg set` / `wg syncconf` / `wg show` (kernel or wireguard-go).

`wg` finds a userspace interface's control socket by itself, so the same
commands drive kernel WireGuard and wireguard-go. Peers get no endpoint (the
device dials in) and a single /32 (or /128) allowed IP: the address the pool
gave them, so a peer cannot speak for another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from common.errors import UnavailableError
from common.types import IPInterface
from tier2.commands import run_checked
from tier2.lifecycle import PeerUsage
from tier2.tunnel.device import ManagedInterface

logger = logging.getLogger(__name__)

PEERS_PER_COMMAND = 100


class WireGuardGateway:
    """Peers on an existing interface, or on one brought up by a `ManagedInterface`."""

    def __init__(
        self,
        *,
        interface: str,
        public_key: str,
        command_timeout: float,
        device: ManagedInterface | None = None,
    ) -> None:
        self.public_key = public_key
        self._interface = interface
        self._timeout = command_timeout
        self._device = device

    async def start(self) -> None:
        if self._device is not None:
            await self._device.up()
        actual = (await self._wg("show", self._interface, "public-key")).strip()
        if actual != self.public_key:
            raise UnavailableError(
                f"interface {self._interface} has public key {actual}, not this cloudlet's "
                f"{self.public_key}; give it the key in the state directory"
            )

    async def set_peers(self, peers: Mapping[str, IPInterface]) -> None:
        """Diff against the interface's peers and apply it with batched `wg set` commands.

        (`wg syncconf` would also reset the private key and port unless given
        them; `wg set` touches only the peers named.)
        """
        listing = await self._wg("show", self._interface, "allowed-ips")
        current = {
            parts[0]: " ".join(parts[1:])
            for parts in (line.split() for line in listing.splitlines())
            if parts
        }
        clauses: list[list[str]] = [
            ["peer", key, "remove"] for key in sorted(set(current) - set(peers))
        ]
        for key, address in sorted(peers.items()):
            if current.get(key) != _host_route(address):
                clauses.append(["peer", key, "allowed-ips", _host_route(address)])
        for start in range(0, len(clauses), PEERS_PER_COMMAND):
            batch = [
                word for clause in clauses[start : start + PEERS_PER_COMMAND] for word in clause
            ]
            await self._wg("set", self._interface, *batch)
        logger.info("tunnel %s has %d peer(s)", self._interface, len(peers))

    async def add_peer(self, client_key: str, address: IPInterface) -> None:
        await self._wg(
            "set", self._interface, "peer", client_key, "allowed-ips", _host_route(address)
        )

    async def remove_peer(self, client_key: str) -> None:
        await self._wg("set", self._interface, "peer", client_key, "remove")

    async def fetch_usage(self) -> Mapping[str, PeerUsage]:
        handshakes = await self._wg("show", self._interface, "latest-handshakes")
        transfer = await self._wg("show", self._interface, "transfer")
        return parse_usage(handshakes, transfer)

    async def repair(self) -> bool:
        """Recreate a managed interface that vanished; an external one is not ours to make."""
        if self._device is None or await self._device.exists():
            return False
        logger.warning("WireGuard interface %s is gone; recreating it", self._interface)
        await self._device.recreate()
        return True

    async def aclose(self) -> None:
        if self._device is not None:
            await self._device.down()

    async def _wg(self, *args: str, input_text: str | None = None) -> str:
        return await run_checked(["wg", *args], time_limit=self._timeout, input_text=input_text)


def parse_usage(handshakes: str, transfer: str) -> dict[str, PeerUsage]:
    """Combine `wg show IF latest-handshakes` and `wg show IF transfer` output."""
    seen: dict[str, datetime | None] = {}
    for line in handshakes.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stamp = int(parts[1])
            seen[parts[0]] = datetime.fromtimestamp(stamp, UTC) if stamp else None
    usage: dict[str, PeerUsage] = {}
    for line in transfer.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            usage[parts[0]] = PeerUsage(latest_handshake=seen.get(parts[0]), rx_bytes=int(parts[1]))
    for key, when in seen.items():
        usage.setdefault(key, PeerUsage(latest_handshake=when, rx_bytes=0))
    return usage


def _host_route(address: IPInterface) -> str:
    return f"{address.ip}/{address.max_prefixlen}"
