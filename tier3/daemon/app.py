"""Builds the daemon's FastAPI application: loopback-only, the backend manager in its lifespan."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Info
from starlette.types import ASGIApp, Receive, Scope, Send

from common import __version__
from common.errors import ForbiddenError, InvalidRequestError
from common.service.app import build_service_app
from common.service.problems import ProblemResponse
from tier3.daemon.api import router
from tier3.daemon.runtime import running_manager
from tier3.settings import Tier3Settings


def create_app(settings: Tier3Settings) -> FastAPI:
    """The ST-3 daemon; its own metrics registry keeps apps in one process apart."""
    registry = CollectorRegistry()
    Info("sinfonia_tier3_build", "Version of this Sinfonia service.", registry=registry).info(
        {"version": __version__}
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_manager(settings, registry=registry) as manager:
            app.state.manager = manager
            yield

    app = build_service_app(
        title="Sinfonia Tier-3 device daemon",
        version=__version__,
        registry=registry,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        rate_limit=settings.rate_limit.build(),
        lifespan=lifespan,
    )
    app.include_router(router)
    app.add_middleware(LoopbackHostMiddleware)
    return app


class LoopbackHostMiddleware:
    """Refuses requests from a peer or for a Host that is not loopback.

    The daemon binds loopback only; the Host check stops DNS rebinding, where
    a page from elsewhere resolves its own name to 127.0.0.1 and calls the
    daemon; the peer check refuses a connection that arrives from elsewhere
    all the same (a port forward, a proxy, a misconfigured bind).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            error: InvalidRequestError | ForbiddenError | None = None
            if not _is_loopback_peer(scope.get("client")):
                error = ForbiddenError("the Tier-3 daemon answers only to programs on this device")
            elif not _is_loopback_host(_host_header(scope)):
                error = InvalidRequestError("the Tier-3 daemon answers only to localhost")
            if error is not None:
                problem = error.to_problem(instance=scope["path"])
                await ProblemResponse(problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_loopback_peer(client: tuple[str, int] | None) -> bool:
    """No address (a Unix socket) or a loopback one; a name (test clients) is not an address."""
    if not client:
        return True
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _host_header(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


def _is_loopback_host(host: str) -> bool:
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
