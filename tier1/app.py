"""Builds the Tier-1 FastAPI application from its settings."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Info

from common import __version__
from common.service.app import build_service_app
from tier1.settings import Tier1Settings


def create_app(settings: Tier1Settings) -> FastAPI:
    """The Tier-1 service, with its own metrics registry so apps in one process stay apart."""
    registry = CollectorRegistry()
    Info("sinfonia_tier1_build", "Version of this Sinfonia service.", registry=registry).info(
        {"version": __version__}
    )
    app = build_service_app(
        title="Sinfonia Tier-1 orchestrator",
        version=__version__,
        registry=registry,
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.settings = settings
    return app
