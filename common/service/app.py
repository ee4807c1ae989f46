"""Builds the FastAPI application shell every Sinfonia service starts from."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import Lifespan

from common.service.health import ReadinessCheck, build_health_router
from common.service.limits import BodySizeLimitMiddleware
from common.service.problems import install_problem_handlers


def build_service_app(
    *,
    title: str,
    version: str,
    registry: CollectorRegistry,
    max_body_bytes: int,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    lifespan: Lifespan[FastAPI] | None = None,
) -> FastAPI:
    """A FastAPI app with problem+json errors, a body size limit, health and metrics routes."""
    app = FastAPI(title=title, version=version, lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=max_body_bytes)
    app.include_router(build_health_router(registry=registry, readiness_checks=readiness_checks))
    return app
