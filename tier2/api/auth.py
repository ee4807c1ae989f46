"""Who is calling, and what they may do: ST-1s by credential, devices by tunnel, JIT by network.

- An ST-1 we registered with shows its deploy credential as a bearer token; a
  caller from `trusted_tier1_networks` counts as an ST-1 too (an original v1
  ST-1 sends no token). ST-1s may deploy any recipe and see any deployment.
- A device calling through its own tunnel is known by its tunnel address
  (WireGuard ties that address to its key); it may renew, see and release
  the deployments of that key only.
- With JIT on, a device on a local network may deploy the cloudlet's own
  recipes for any key (the tunnel only works with the private key), but it
  sees and releases deployments only through its tunnel.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from common.errors import ForbiddenError, UnauthorizedError
from common.types import IPAddress
from tier2.records import DeploymentKey
from tier2.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Caller:
    """One of: an ST-1 (`tier1`), a device behind its tunnel (`device_key`), a JIT client."""

    tier1: str | None = None
    device_key: str | None = None
    jit: bool = False
    address: IPAddress | None = None

    @property
    def description(self) -> str:
        if self.tier1:
            return "ST-1"
        return "tunnel device" if self.device_key else "local-network client"


def identify_caller(
    *, authorization: str | None, client_host: str | None, runtime: Runtime
) -> Caller:
    address = _address(client_host)
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("use 'Authorization: Bearer <deploy credential>'")
        tier1 = runtime.registrations.tier1_for(token.strip())
        if tier1 is None:
            raise UnauthorizedError("this deploy credential belongs to no ST-1 we registered with")
        return Caller(tier1=tier1, address=address)
    if address is None:
        raise UnauthorizedError("a deploy credential is required")
    access = runtime.access
    if any(address in network for network in access.trusted_tier1_networks):
        return Caller(tier1=f"trusted network {address}", address=address)
    device_key = runtime.manager.key_at(address)
    if device_key is not None:
        return Caller(device_key=device_key, address=address)
    if access.jit and any(address in network for network in access.local_networks):
        return Caller(jit=True, address=address)
    raise UnauthorizedError("a deploy credential is required from outside the local networks")


def authorize_deploy(caller: Caller, key: DeploymentKey, *, brings_recipe: bool) -> None:
    """ST-1s deploy anything; devices and JIT clients only this cloudlet's recipes."""
    if caller.tier1:
        return
    if brings_recipe:
        raise ForbiddenError("only a registered ST-1 may send a recipe; leave it out")
    if caller.device_key is not None and caller.device_key != key.client_key:
        raise ForbiddenError("a device can deploy only for its own key")


def authorize_access(caller: Caller, key: DeploymentKey) -> None:
    """ST-1s see everything; a device only its own key's deployments, through its tunnel."""
    if caller.tier1 or caller.device_key == key.client_key:
        return
    raise ForbiddenError(
        "a device can see and release only its own deployments, through its own tunnel"
    )


def _address(host: str | None) -> IPAddress | None:
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address
