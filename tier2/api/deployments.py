"""The native deploy API: `/api/v2/deployments`, carrying the recipe and the device context."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from common.deployment import CloudletDeployRequest, Deployment
from common.types import AppId
from tier2.api import operations
from tier2.api.convert import to_deployment
from tier2.api.deps import CallerDep, RuntimeDep
from tier2.records import DeploymentKey

router = APIRouter(prefix="/api/v2/deployments", tags=["deployments"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Deploy a backend, or renew the lease of the one already there (200)",
)
async def create_deployment(
    body: CloudletDeployRequest, runtime: RuntimeDep, caller: CallerDep, response: Response
) -> Deployment:
    key = DeploymentKey(app=AppId(body.app), client_key=body.client_public_key)
    outcome = await operations.deploy(runtime, caller, key, recipe=body.recipe, device=body.device)
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return to_deployment(outcome.record, runtime)


@router.get("/{app}/{key:path}", summary="One deployment, by app and device key")
async def get_deployment(
    app: uuid.UUID, key: str, runtime: RuntimeDep, caller: CallerDep
) -> Deployment:
    record = operations.lookup(runtime, caller, operations.key_from_path(app, key))
    return to_deployment(record, runtime)


@router.delete(
    "/{app}/{key:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release a deployment now",
)
async def delete_deployment(
    app: uuid.UUID, key: str, runtime: RuntimeDep, caller: CallerDep
) -> Response:
    await operations.release(runtime, caller, operations.key_from_path(app, key))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
