"""The v1 deploy API, `/api/v1/deploy/{uuid}/{key}`, so an original ST-1 can drive ST-2.

Replies use the v1 field names (`UUID`, `ApplicationKey`, `TunnelConfig`...).
`X-ClientIP` and `X-Location` are believed only from an ST-1.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from common.device import DeviceContext
from common.errors import InvalidRequestError
from common.geo import GeoLocation
from common.types import IPAddress
from common.v1 import CloudletDeploymentV1
from tier2.api import operations
from tier2.api.auth import Caller
from tier2.api.convert import to_deployment
from tier2.api.deps import CallerDep, RuntimeDep
from tier2.records import DeploymentRecord
from tier2.runtime import Runtime

router = APIRouter(prefix="/api/v1/deploy", tags=["v1"])

ClientIpHeader = Annotated[str | None, Header(alias="X-ClientIP")]
LocationHeader = Annotated[str | None, Header(alias="X-Location")]


@router.post("/{app}/{key:path}", summary="v1: deploy or renew; a list of CloudletDeployment")
async def deploy_v1(
    app: uuid.UUID,
    key: str,
    runtime: RuntimeDep,
    caller: CallerDep,
    client_ip: ClientIpHeader = None,
    location: LocationHeader = None,
) -> JSONResponse:
    outcome = await operations.deploy(
        runtime,
        caller,
        operations.key_from_path(app, key),
        recipe=None,
        device=_device(caller, client_ip, location),
    )
    code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
    return _listing(outcome.record, runtime, code)


@router.get("/{app}/{key:path}", summary="v1: the deployment of this app and key, as a list")
async def get_v1(app: uuid.UUID, key: str, runtime: RuntimeDep, caller: CallerDep) -> JSONResponse:
    record = operations.lookup(runtime, caller, operations.key_from_path(app, key))
    return _listing(record, runtime, status.HTTP_200_OK)


@router.delete("/{app}/{key:path}", status_code=status.HTTP_204_NO_CONTENT, summary="v1: release")
async def delete_v1(app: uuid.UUID, key: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    await operations.release(runtime, caller, operations.key_from_path(app, key))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _listing(record: DeploymentRecord, runtime: Runtime, code: int) -> JSONResponse:
    v1 = CloudletDeploymentV1.from_native(to_deployment(record, runtime))
    return JSONResponse([v1.model_dump(mode="json", by_alias=True)], status_code=code)


def _device(caller: Caller, client_ip: str | None, location: str | None) -> DeviceContext:
    if not caller.tier1:
        return DeviceContext(address=caller.address)
    try:
        return DeviceContext(
            address=_ip(client_ip) if client_ip else caller.address,
            location=GeoLocation.from_header(location) if location else None,
        )
    except (ValidationError, ValueError) as exc:
        raise InvalidRequestError(f"bad X-ClientIP or X-Location header: {exc}") from exc


def _ip(text: str) -> IPAddress:
    """The first address of an `X-ClientIP` header (a proxy chain lists the client first)."""
    return ipaddress.ip_address(text.split(",")[0].strip())
