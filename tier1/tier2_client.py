"""Calls from ST-1 to one ST-2: deploy and release, native or in the original v1 dialect."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from common.deployment import CloudletDeployRequest, Deployment
from common.errors import UpstreamError, UpstreamRejectedError, UpstreamTimeoutError
from common.keys import urlsafe_key
from common.problem import PROBLEM_MEDIA_TYPE, Problem
from common.types import AppId
from common.v1 import CloudletDeploymentV1
from tier1.records import CloudletRecord
from tier1.selection.interface import ClientContext

logger = logging.getLogger(__name__)

V1_DEPLOY_PATH = "/api/v1/deploy"
_V1_LIST = TypeAdapter(list[CloudletDeploymentV1])


def speaks_v1(site: CloudletRecord) -> bool:
    """An original ST-2 is known by the v1 deploy URL it registered (or was configured) with."""
    return site.endpoint.rstrip("/").endswith(V1_DEPLOY_PATH)


class Tier2Client:
    """One shared `httpx.AsyncClient`; every call has its own timeout."""

    def __init__(self, client: httpx.AsyncClient, *, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    async def deploy(
        self, site: CloudletRecord, request: CloudletDeployRequest, client: ClientContext
    ) -> Deployment:
        if speaks_v1(site):
            return await self._deploy_v1(site, request, client)
        response = await self._send(
            site,
            "POST",
            f"{_base(site)}/api/v2/deployments",
            json=request.model_dump(mode="json"),
        )
        try:
            deployment = Deployment.model_validate_json(response.content)
        except ValidationError as exc:
            raise UpstreamError(f"cloudlet {site.name} sent a malformed deployment") from exc
        if deployment.cloudlet != site.uuid:
            raise UpstreamError(f"cloudlet {site.name} answered for another cloudlet")
        return deployment

    async def release(self, site: CloudletRecord, app: AppId, client_key: str) -> None:
        key = urlsafe_key(client_key)
        if speaks_v1(site):
            url = f"{site.endpoint.rstrip('/')}/{app}/{key}"
        else:
            url = f"{_base(site)}/api/v2/deployments/{app}/{key}"
        await self._send(site, "DELETE", url, not_found_ok=True)

    async def _deploy_v1(
        self, site: CloudletRecord, request: CloudletDeployRequest, client: ClientContext
    ) -> Deployment:
        headers = {}
        if client.address is not None:
            headers["X-ClientIP"] = str(client.address)
        if client.location is not None:
            headers["X-Location"] = f"{client.location[0]},{client.location[1]}"
        url = f"{site.endpoint.rstrip('/')}/{request.app}/{urlsafe_key(request.client_public_key)}"
        response = await self._send(site, "POST", url, headers=headers)
        try:
            answers = _V1_LIST.validate_json(response.content)
        except ValidationError as exc:
            raise UpstreamError(f"cloudlet {site.name} sent a malformed v1 deployment") from exc
        if not answers:
            raise UpstreamError(f"cloudlet {site.name} deployed nothing")
        first = answers[0]
        return Deployment(
            cloudlet=site.uuid,
            cloudlet_name=site.name,
            app=first.uuid,
            client_public_key=first.application_key,
            name=first.deployment_name or f"v1-{str(site.uuid)[:8]}",
            status=first.status,
            created=_aware(first.created),
            expires=first.expires,
            tunnel=first.tunnel_config.to_native(),
        )

    async def _send(
        self,
        site: CloudletRecord,
        method: str,
        url: str,
        *,
        not_found_ok: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if site.deploy_credential:
            headers["Authorization"] = f"Bearer {site.deploy_credential}"
        try:
            # httpx's timeout bounds each read; this bounds the whole call, so a peer that
            # trickles its answer a byte at a time is cut off too.
            async with asyncio.timeout(self._timeout):
                response = await self._client.request(
                    method, url, headers=headers, timeout=self._timeout, **kwargs
                )
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise UpstreamTimeoutError(f"cloudlet {site.name} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"cloudlet {site.name} could not be reached: {type(exc).__name__}"
            ) from exc
        if response.is_success or (not_found_ok and response.status_code == 404):
            return response
        raise _rejection(site, response)


def _base(site: CloudletRecord) -> str:
    return site.endpoint.rstrip("/")


def _rejection(site: CloudletRecord, response: httpx.Response) -> UpstreamError:
    content_type = response.headers.get("content-type", "")
    if content_type.startswith(PROBLEM_MEDIA_TYPE):
        try:
            return UpstreamRejectedError(Problem.model_validate_json(response.content))
        except ValidationError:
            pass
    return UpstreamError(f"cloudlet {site.name} answered {response.status_code}")


def _aware(value: datetime | None) -> datetime:
    """v1 peers may send naive or no creation times; ours are aware UTC."""
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
