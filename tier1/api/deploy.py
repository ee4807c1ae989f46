"""Deploy, list candidates and release: the v1 routes an original ST-3 uses, and native v2."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel

from common.deployment import DeployRequest, DeployResponse, Results
from common.device import DeviceContext
from common.types import CloudletId
from common.v1 import CloudletDeploymentV1, CloudletInfoV1
from tier1.api.deps import AppIdPath, ClientKeyPath, ServicesDep
from tier1.clientinfo import build_client_context
from tier1.selection.interface import ClientContext
from tier1.services import Services

native = APIRouter(prefix="/api/v2/deploy", tags=["deploy"])
v1 = APIRouter(prefix="/api/v1/deploy", tags=["v1"])

ResultsQuery = Annotated[Results, Query(description="How many deployments, 1 to 3.")]


class Candidate(BaseModel):
    """One cloudlet a deploy would try, with the scores that put it there."""

    uuid: str
    name: str
    endpoint: str
    score: float
    scores: dict[str, float]


def _client(request: Request, services: Services, device: DeviceContext | None) -> ClientContext:
    return build_client_context(
        peer=request.client.host if request.client else None,
        headers=request.headers,
        device=device,
        trusted_proxies=services.settings.clients.trusted_proxies,
        geolocator=services.geolocator,
    )


@native.post("", summary="Deploy an app's backend on the best cloudlets (at most 3)")
async def deploy(body: DeployRequest, request: Request, services: ServicesDep) -> DeployResponse:
    client = _client(request, services, body.device)
    deployments = await services.deployer.deploy(
        body.app, body.client_public_key, body.device, client, body.results
    )
    return DeployResponse(deployments=deployments)


@native.get("/{app}/{key:path}", summary="The cloudlets a deploy would try, best first")
async def candidates(
    app: AppIdPath, key: ClientKeyPath, request: Request, services: ServicesDep
) -> list[Candidate]:
    result = await services.deployer.rank(app, _client(request, services, None))
    return [
        Candidate(
            uuid=str(scored.site.uuid),
            name=scored.site.name,
            endpoint=scored.site.endpoint,
            score=scored.total,
            scores=dict(scored.scores),
        )
        for scored in result.ranked
    ]


@native.delete(
    "/{app}/{key:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release the device's deployments of this app everywhere",
)
async def release(
    app: AppIdPath,
    key: ClientKeyPath,
    services: ServicesDep,
    cloudlet: Annotated[
        CloudletId | None, Query(description="Release only on this cloudlet (an unchosen one).")
    ] = None,
) -> None:
    await services.deployer.release(app, key, cloudlet)


@v1.post("/{app}/{key:path}", summary="v1: deploy and return the CloudletDeployment list")
async def deploy_v1(
    app: AppIdPath,
    key: ClientKeyPath,
    request: Request,
    services: ServicesDep,
    results: ResultsQuery = 1,
) -> list[CloudletDeploymentV1]:
    device = DeviceContext()
    deployments = await services.deployer.deploy(
        app, key, device, _client(request, services, device), results
    )
    return [CloudletDeploymentV1.from_native(deployment) for deployment in deployments]


@v1.get("/{app}/{key:path}", summary="v1: candidate cloudlets, without deploying")
async def candidates_v1(
    app: AppIdPath,
    key: ClientKeyPath,
    request: Request,
    services: ServicesDep,
    results: ResultsQuery = 1,
) -> list[CloudletInfoV1]:
    result = await services.deployer.rank(app, _client(request, services, None))
    return [scored.site.to_v1() for scored in result.ranked[:results]]


@v1.delete(
    "/{app}/{key:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="v1: release the device's deployments",
)
async def release_v1(app: AppIdPath, key: ClientKeyPath, services: ServicesDep) -> None:
    await services.deployer.release(app, key)
