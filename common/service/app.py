"""Builds the FastAPI application shell every Sinfonia service starts from."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import Lifespan

from common.service.health import ReadinessCheck, build_health_router
from common.service.limits import (
    DEFAULT_MAX_HEADER_BYTES,
    BodySizeLimitMiddleware,
    HeaderSizeLimitMiddleware,
)
from common.service.openapi import install_problem_responses
from common.service.problems import install_problem_handlers
from common.service.ratelimit import RateLimit, RateLimitMiddleware


def build_service_app(
    *,
    title: str,
    version: str,
    registry: CollectorRegistry,
    max_body_bytes: int,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    rate_limit: RateLimit | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    lifespan: Lifespan[FastAPI] | None = None,
) -> FastAPI:
    """A FastAPI app with problem+json errors, request limits, health and metrics routes.

    Outermost first: the per-client rate limit (when given), the header size
    limit, the body size limit; each answers with its own problem.
    """
    app = FastAPI(title=title, version=version, lifespan=lifespan)
    install_problem_handlers(app)
    install_problem_responses(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=max_body_bytes)
    app.add_middleware(HeaderSizeLimitMiddleware, max_header_bytes=max_header_bytes)
    if rate_limit is not None:
        app.add_middleware(RateLimitMiddleware, limit=rate_limit)
    app.include_router(build_health_router(registry=registry, readiness_checks=readiness_checks))
    return app
