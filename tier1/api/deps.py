"""FastAPI dependencies: the only place that reads `app.state`.

All are `async def`: FastAPI runs plain `def` dependencies in a thread pool,
which costs more than they do (measured: half of a keepalive's time).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from common.errors import UnavailableError
from common.types import AppId, CloudletId, WireGuardKey
from tier1.services import Services


async def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise UnavailableError("ST-1 is starting")
    return services


async def bearer_credential(
    authorization: Annotated[str | None, Header(max_length=2048)] = None,
) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


ServicesDep = Annotated[Services, Depends(get_services)]
CredentialDep = Annotated[str | None, Depends(bearer_credential)]
AppIdPath = Annotated[AppId, Path(description="The application's UUID.")]
CloudletIdPath = Annotated[CloudletId, Path(description="The cloudlet's UUID.")]
ClientKeyPath = Annotated[
    WireGuardKey,
    Path(description="The device's WireGuard public key, base64 (URL-safe or not, padded or not)."),
]
