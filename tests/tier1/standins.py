"""A stand-in ST-2 that speaks the native deploy API and can succeed, refuse or hang on cue."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI, Request, Response

from common.deployment import CloudletDeployRequest, Deployment
from common.errors import UnavailableError
from common.problem import PROBLEM_MEDIA_TYPE
from common.tunnel import TunnelConfig

CLOUDLET_KEY = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
Behaviour = Literal["deploy", "refuse", "hang", "garbage"]


@dataclass
class StandInCloudlet:
    """Records what it was asked; `behaviour` decides how it answers deploys."""

    cloudlet: uuid.UUID
    behaviour: Behaviour = "deploy"
    deploys: list[tuple[CloudletDeployRequest, dict[str, str]]] = field(default_factory=list)
    releases: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/v2/deployments")
        async def deploy(request: Request) -> Response:
            body = CloudletDeployRequest.model_validate_json(await request.body())
            self.deploys.append((body, dict(request.headers)))
            if self.behaviour == "hang":
                await asyncio.sleep(30)
            if self.behaviour == "refuse":
                problem = UnavailableError("quota exceeded").to_problem()
                return Response(
                    problem.model_dump_json(), status_code=503, media_type=PROBLEM_MEDIA_TYPE
                )
            if self.behaviour == "garbage":
                return Response("{not json", status_code=200, media_type="application/json")
            return Response(
                self.deployment(body).model_dump_json(), 201, media_type="application/json"
            )

        @app.delete("/api/v2/deployments/{app_id}/{key}")
        async def release(app_id: str, key: str) -> Response:
            self.releases.append(f"{app_id}/{key}")
            return Response(status_code=204)

        return app

    def deployment(self, body: CloudletDeployRequest) -> Deployment:
        tunnel: dict[str, Any] = {
            "public_key": CLOUDLET_KEY,
            "endpoint": "127.0.0.1:51820",
            "allowed_ips": ["10.43.0.0/16"],
            "address": ["10.5.0.2/32"],
            "dns": ["10.43.0.10"],
        }
        return Deployment(
            cloudlet=self.cloudlet,  # type: ignore[arg-type]
            app=body.app,
            client_public_key=body.client_public_key,
            name=f"d-{str(self.cloudlet)[-6:]}",
            status="Deployed",  # type: ignore[arg-type]
            created=datetime.now(UTC),
            tunnel=TunnelConfig.model_validate(tunnel),
        )
