"""Builds the Tier-2 FastAPI application from its settings."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Info

from common import __version__
from common.service.app import build_service_app
from tier2.settings import Tier2Settings


def create_app(settings: Tier2Settings) -> FastAPI:
    """The Tier-2 service, with its own metrics registry so apps in one process stay apart."""
    registry = CollectorRegistry()
    Info("sinfonia_tier2_build", "Version of this Sinfonia service.", registry=registry).info(
        {"version": __version__}
    )
    app = build_service_app(
        title="Sinfonia Tier-2 cloudlet agent",
        version=__version__,
        registry=registry,
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.settings = settings
    return app
