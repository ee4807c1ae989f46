"""A stand-in ST-1: the registration contract of issue 4, as a small real FastAPI app.

ST-1 is being written at the same time; this implements exactly the agreed
contract (register 201/200, 401/403/409 problems, keepalive with the bearer
credential and 404 for a forgotten row, deregistration 204) and records what
it received, so tests can assert what ST-2 sent. Switch to the real ST-1 once
it lands.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import FastAPI, Header, Response

from common.cloudlet import Keepalive, KeepaliveResponse, RegistrationRequest, RegistrationResponse
from common.errors import (
    CloudletNotFoundError,
    ConflictError,
    ForbiddenError,
    UnauthorizedError,
    UnavailableError,
)
from common.service.problems import install_problem_handlers
from common.types import CloudletId


@dataclass
class Row:
    request: RegistrationRequest
    credential: str
    keepalives: list[Keepalive] = field(default_factory=list)


@dataclass
class StandInTier1:
    """State of the stand-in; tests read and steer it from their own thread."""

    keepalive_interval: float | None = None
    registration_token: str | None = None
    unavailable: bool = False
    rows: dict[CloudletId, Row] = field(default_factory=dict)
    attempts: int = 0
    registrations: list[RegistrationRequest] = field(default_factory=list)
    deregistered: list[CloudletId] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def forget(self, cloudlet: CloudletId) -> None:
        with self.lock:
            self.rows.pop(cloudlet, None)

    def row(self, cloudlet: CloudletId) -> Row | None:
        with self.lock:
            return self.rows.get(cloudlet)

    def build_app(self) -> FastAPI:
        app = FastAPI()
        install_problem_handlers(app)

        @app.post("/api/v2/cloudlets", status_code=201)
        async def register(body: RegistrationRequest, response: Response) -> RegistrationResponse:
            with self.lock:
                self.attempts += 1
            self._check_up()
            if self.registration_token is not None:
                if body.registration_token is None:
                    raise UnauthorizedError("a registration token is required")
                if body.registration_token != self.registration_token:
                    raise ForbiddenError("wrong registration token")
            uuid = body.cloudlet.uuid
            with self.lock:
                self.registrations.append(body)
                existing = self.rows.get(uuid)
                if existing and existing.request.cloudlet.public_key != body.cloudlet.public_key:
                    raise ConflictError("this UUID belongs to another key")
                if existing:
                    response.status_code = 200
                row = Row(request=body, credential=secrets.token_urlsafe(24))
                self.rows[uuid] = row
            interval = self.keepalive_interval or body.keepalive_interval
            return RegistrationResponse(
                uuid=uuid,
                keepalive_interval=interval,
                ttl=interval * 3,
                credential=row.credential,
                trust_level=50,
            )

        @app.put("/api/v2/cloudlets/{uuid}/keepalive")
        async def keepalive(
            uuid: CloudletId,
            body: Keepalive,
            authorization: Annotated[str | None, Header()] = None,
        ) -> KeepaliveResponse:
            self._check_up()
            row = self._authorized(uuid, authorization)
            with self.lock:
                row.keepalives.append(body)
            interval = self.keepalive_interval or row.request.keepalive_interval
            return KeepaliveResponse(keepalive_interval=interval, ttl=interval * 3)

        @app.delete("/api/v2/cloudlets/{uuid}", status_code=204)
        async def deregister(
            uuid: CloudletId, authorization: Annotated[str | None, Header()] = None
        ) -> Response:
            self._authorized(uuid, authorization)
            with self.lock:
                del self.rows[uuid]
                self.deregistered.append(uuid)
            return Response(status_code=204)

        return app

    def _check_up(self) -> None:
        if self.unavailable:
            raise UnavailableError("stand-in ST-1 is down for the test")

    def _authorized(self, uuid: CloudletId, authorization: str | None) -> Row:
        with self.lock:
            row = self.rows.get(uuid)
        if row is None:
            raise CloudletNotFoundError(f"no cloudlet {uuid}")
        if authorization != f"Bearer {row.credential}":
            raise UnauthorizedError("wrong credential")
        return row
