"""Liveness, readiness and Prometheus metrics endpoints, the same on every service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.responses import JSONResponse, Response

from common.errors import UnavailableError

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]
"""Returns when a dependency is usable; raises (any exception) when it is not."""

DEFAULT_CHECK_TIMEOUT = 2.0


def build_health_router(
    *,
    registry: CollectorRegistry,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    check_timeout: float = DEFAULT_CHECK_TIMEOUT,
) -> APIRouter:
    """`/healthz` (the process answers), `/readyz` (its dependencies do) and `/metrics`."""
    router = APIRouter(tags=["operations"])
    checks = dict(readiness_checks or {})

    @router.get("/healthz", summary="Liveness: the process is serving")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: every dependency answered")
    async def readyz() -> JSONResponse:
        failures = await _run_checks(checks, check_timeout)
        if failures:
            detail = "; ".join(f"{name}: {why}" for name, why in sorted(failures.items()))
            raise UnavailableError(f"not ready: {detail}")
        return JSONResponse({"status": "ready", "checks": sorted(checks)})

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _run_checks(checks: Mapping[str, ReadinessCheck], check_timeout: float) -> dict[str, str]:
    async def run(name: str, check: ReadinessCheck) -> tuple[str, str | None]:
        try:
            async with asyncio.timeout(check_timeout):
                await check()
        except TimeoutError:
            return name, f"no answer within {check_timeout:g}s"
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            return name, type(exc).__name__
        return name, None

    results = await asyncio.gather(*(run(name, check) for name, check in checks.items()))
    return {name: why for name, why in results if why is not None}
