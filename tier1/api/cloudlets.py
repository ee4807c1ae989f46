"""Cloudlet registration, keepalives and listings: native v2, and the v1 listing and push."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from common.cloudlet import (
    CloudletSummary,
    Keepalive,
    KeepaliveResponse,
    RegistrationRequest,
    RegistrationResponse,
)
from common.errors import CloudletNotFoundError
from common.v1 import CloudletInfoV1
from tier1.api.deps import CloudletIdPath, CredentialDep, ServicesDep

V1_LISTING_LIMIT = 1000

native = APIRouter(prefix="/api/v2/cloudlets", tags=["cloudlets"])
v1 = APIRouter(prefix="/api/v1/cloudlets", tags=["v1"])


class CloudletPage(BaseModel):
    items: list[CloudletSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; None at end.")


@native.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a cloudlet (or take its row back after a restart)",
    responses={200: {"description": "The cloudlet's row existed and was taken back."}},
)
async def register(
    request: RegistrationRequest, services: ServicesDep, response: Response
) -> RegistrationResponse:
    answer, created = await services.registrar.register(request)
    if not created:
        response.status_code = status.HTTP_200_OK
    return answer


@native.put("/{uuid}/keepalive", summary="Report liveness and load; needs the row's credential")
async def keepalive(
    uuid: CloudletIdPath, body: Keepalive, credential: CredentialDep, services: ServicesDep
) -> KeepaliveResponse:
    return await services.registrar.keepalive(uuid, credential, body.metrics)


@native.delete(
    "/{uuid}", status_code=status.HTTP_204_NO_CONTENT, summary="Deregister; needs the credential"
)
async def deregister(
    uuid: CloudletIdPath, credential: CredentialDep, services: ServicesDep
) -> None:
    await services.registrar.deregister(uuid, credential)


@native.get("", summary="List cloudlets, a page at a time")
async def list_cloudlets(
    services: ServicesDep,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CloudletPage:
    page = await services.table.page(cursor=cursor, limit=limit)
    return CloudletPage(
        items=[record.to_summary() for record in page.records], next_cursor=page.next_cursor
    )


@native.get("/{uuid}", summary="One cloudlet's row")
async def get_cloudlet(uuid: CloudletIdPath, services: ServicesDep) -> CloudletSummary:
    record = await services.table.get(uuid)
    if record is None:
        raise CloudletNotFoundError(f"cloudlet {uuid} is not registered (or expired)")
    return record.to_summary()


@v1.get("/", summary="v1: list known cloudlets (at most 1000)")
async def list_cloudlets_v1(services: ServicesDep) -> list[CloudletInfoV1]:
    page = await services.table.page(cursor=None, limit=V1_LISTING_LIMIT)
    return [record.to_v1() for record in page.records]


@v1.post(
    "/",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="v1: an original ST-2's unauthenticated update (off unless enabled)",
)
async def update_cloudlet_v1(info: CloudletInfoV1, services: ServicesDep) -> None:
    await services.registrar.accept_v1_update(info)
