"""The daemon's HTTP routes: deploy, list, wait for, release backends; list JIT cloudlets."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from common.types import AppId
from tier3.daemon.manager import MAX_WAIT_TIMEOUT, BackendManager
from tier3.schema import Backend, DeployBackendRequest, JitCloudlet


def _manager(request: Request) -> BackendManager:
    manager: BackendManager = request.app.state.manager
    return manager


Manager = Annotated[BackendManager, Depends(_manager)]

router = APIRouter(prefix="/api/v2", tags=["backends"])


@router.post("/backends", summary="Get the app a backend and tunnel to it (hands off if active)")
async def deploy_backend(body: DeployBackendRequest, manager: Manager) -> Backend:
    return await manager.deploy_backend(body)


@router.get("/backends", summary="The active backends of every app on this device")
async def list_backends(manager: Manager) -> list[Backend]:
    return manager.get_backends()


@router.get("/backends/{app}", summary="One app's backend; with `after`, wait for the next one")
async def get_backend(
    app: uuid.UUID,
    manager: Manager,
    after: Annotated[
        int | None, Query(ge=0, description="Answer once the generation is past this.")
    ] = None,
    wait: Annotated[
        float, Query(gt=0, le=MAX_WAIT_TIMEOUT, description="Longest wait, in seconds.")
    ] = 30.0,
) -> Backend:
    if after is None:
        return manager.get_backend(AppId(app))
    return await manager.wait_for_backend(AppId(app), after=after, wait_timeout=wait)


@router.delete(
    "/backends/{app}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Tear the tunnel down and release the app's deployments",
)
async def release_backend(app: uuid.UUID, manager: Manager) -> Response:
    await manager.release_backend(AppId(app))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/cloudlets", summary="Just-in-time cloudlets seen on the local network")
async def list_cloudlets(manager: Manager) -> list[JitCloudlet]:
    return manager.get_cloudlets()
