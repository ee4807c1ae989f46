"""Builds the Tier-2 FastAPI application from its settings; the lifespan owns the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Info

from common import __version__
from common.service.app import build_service_app
from tier2.api import cloudlet, deployments, v1
from tier2.instruments import Instruments
from tier2.runtime import running
from tier2.settings import Tier2Settings


def create_app(settings: Tier2Settings) -> FastAPI:
    """The Tier-2 service, with its own metrics registry so apps in one process stay apart."""
    registry = CollectorRegistry()
    Info("sinfonia_tier2_build", "Version of this Sinfonia service.", registry=registry).info(
        {"version": __version__}
    )
    instruments = Instruments(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, instruments) as runtime:
            app.state.runtime = runtime
            yield

    async def cluster_ready() -> None:
        await app.state.runtime.check_cluster()

    app = build_service_app(
        title="Sinfonia Tier-2 cloudlet agent",
        version=__version__,
        registry=registry,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        rate_limit=settings.rate_limit.build(),
        readiness_checks={"cluster": cluster_ready},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(deployments.router)
    app.include_router(v1.router)
    app.include_router(cloudlet.router)
    return app
