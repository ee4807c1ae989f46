"""Calls from ST-2 to one ST-1: register, keepalive, deregister; errors keep their identity.

A problem body from ST-1 becomes the same `common.errors` class here
(`error_from_problem`); a timeout becomes `UpstreamTimeoutError`, any other
transport failure or an unreadable answer `UpstreamError`.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from common.cloudlet import Keepalive, KeepaliveResponse, RegistrationRequest, RegistrationResponse
from common.errors import (
    SinfoniaError,
    UpstreamError,
    UpstreamTimeoutError,
    error_from_problem,
)
from common.problem import Problem
from common.types import CloudletId

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

CLOUDLETS = "/api/v2/cloudlets"


class Tier1Client:
    """The ST-1 registration API at `base_url`, over a shared `httpx.AsyncClient`."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")

    async def register(self, request: RegistrationRequest) -> RegistrationResponse:
        response = await self._send("POST", CLOUDLETS, json=request.model_dump(mode="json"))
        return _parse(response, RegistrationResponse)

    async def keepalive(
        self, cloudlet: CloudletId, credential: str, keepalive: Keepalive
    ) -> KeepaliveResponse:
        response = await self._send(
            "PUT",
            f"{CLOUDLETS}/{cloudlet}/keepalive",
            json=keepalive.model_dump(mode="json"),
            credential=credential,
        )
        return _parse(response, KeepaliveResponse)

    async def deregister(self, cloudlet: CloudletId, credential: str) -> None:
        await self._send("DELETE", f"{CLOUDLETS}/{cloudlet}", credential=credential)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        credential: str | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        url = self.base_url + path
        try:
            response = await self._http.request(method, url, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(f"{self.base_url} did not answer {method} in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{method} {self.base_url}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response
        raise _error(response)


def _error(response: httpx.Response) -> SinfoniaError:
    try:
        problem = Problem.model_validate_json(response.content)
    except ValidationError:
        problem = Problem(
            title=response.reason_phrase or "error",
            status=response.status_code if response.status_code >= 400 else 502,
            detail=response.text[:500] or None,
        )
    return error_from_problem(problem)


def _parse(response: httpx.Response, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise UpstreamError(
            f"{response.request.url} answered with an invalid {model.__name__}: "
            f"{exc.error_count()} error(s)"
        ) from exc
