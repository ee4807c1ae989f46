"""Builds ST-1 from its settings: the lifespan owns the table, the HTTP client and the loops."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from common import __version__
from common.service.app import build_service_app
from common.service.loops import LoopGroup
from tier1.api import cloudlets, deploy, recipes
from tier1.deployer import Deployer
from tier1.geoip import GeoIPDatabase
from tier1.ledger import DeploymentLedger, MemoryLedger, RedisLedger
from tier1.metrics import Tier1Metrics
from tier1.recipes import DirectoryRecipes, EmptyRecipes, RecipeStore, UrlRecipes
from tier1.registrar import Registrar
from tier1.selection.external import ExternalSelector
from tier1.selection.registry import Registry
from tier1.selection.selector import Selector
from tier1.services import Services
from tier1.settings import Tier1Settings
from tier1.static_cloudlets import load_static_cloudlets
from tier1.table.interface import CloudletTable
from tier1.table.memory import MemoryTable
from tier1.table.redis import RedisTable
from tier1.tier2_client import Tier2Client

logger = logging.getLogger(__name__)


def build_table(settings: Tier1Settings) -> tuple[CloudletTable, DeploymentLedger]:
    if settings.table.url.startswith("memory://"):
        return MemoryTable(), MemoryLedger()
    table = RedisTable(
        settings.table.url,
        prefix=settings.table.prefix,
        socket_timeout=settings.table.socket_timeout,
    )
    return table, RedisLedger(table.client, prefix=settings.table.prefix)


def build_recipes(settings: Tier1Settings, http: httpx.AsyncClient) -> RecipeStore:
    if settings.recipes.directory is not None:
        return DirectoryRecipes.load(settings.recipes.directory)
    if settings.recipes.url is not None:
        return UrlRecipes(
            str(settings.recipes.url),
            client=http,
            timeout=settings.recipes.fetch_timeout,
            cache_ttl=settings.recipes.cache_ttl,
        )
    return EmptyRecipes()


def create_app(
    settings: Tier1Settings, *, registry: Registry | None = None, table: CloudletTable | None = None
) -> FastAPI:
    """ST-1. `registry` and `table` may be handed in (tests); otherwise built from settings."""
    metrics = Tier1Metrics.create()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            services = await _start(settings, metrics, stack, registry, table)
            app.state.services = services
            loops = LoopGroup()
            loops.start(
                "tier1-expiry", lambda: _sweep(services), interval=settings.keepalive.sweep_interval
            )
            try:
                yield
            finally:
                await loops.stop()
                app.state.services = None

    app = build_service_app(
        title="Sinfonia Tier-1 orchestrator",
        version=__version__,
        registry=metrics.registry,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        rate_limit=settings.rate_limit.build(settings.clients.trusted_proxies),
        readiness_checks={"table": lambda: _ping(app)},
        lifespan=lifespan,
    )
    for router in (
        cloudlets.native,
        cloudlets.v1,
        deploy.native,
        deploy.v1,
        recipes.native,
        recipes.v1,
    ):
        app.include_router(router)
    return app


async def _start(
    settings: Tier1Settings,
    metrics: Tier1Metrics,
    stack: AsyncExitStack,
    registry: Registry | None,
    given_table: CloudletTable | None,
) -> Services:
    timeout = httpx.Timeout(
        settings.deploy.cloudlet_timeout, connect=settings.deploy.connect_timeout
    )
    http = await stack.enter_async_context(
        httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
        )
    )
    if given_table is None:
        table, ledger = build_table(settings)
        stack.push_async_callback(table.close)
    else:
        table, ledger = given_table, MemoryLedger()
    recipe_store = build_recipes(settings, http)
    geolocator = None
    if settings.clients.geoip_database is not None:
        geolocator = GeoIPDatabase(settings.clients.geoip_database)
        stack.callback(geolocator.close)
    await _load_static_cloudlets(settings, table)
    external = None
    if settings.selection.external is not None:
        external = ExternalSelector(
            url=str(settings.selection.external.url),
            timeout=settings.selection.external.timeout,
            client=http,
            metrics=metrics,
        )
    selector = Selector(
        table=table,
        registry=registry or Registry.with_entry_points(),
        configured_pipeline=settings.selection.pipeline,
        nearest=settings.table.nearest,
        metrics=metrics,
        rng=random.Random(settings.selection.seed),  # noqa: S311 - tie-breaking, not secrets
        external=external,
    )
    registrar = Registrar(
        table=table, admission=settings.admission, keepalive=settings.keepalive, metrics=metrics
    )
    deployer = Deployer(
        table=table,
        selector=selector,
        recipes=recipe_store,
        tier2=Tier2Client(http, timeout=settings.deploy.cloudlet_timeout),
        ledger=ledger,
        deadline=settings.deploy.deadline,
        metrics=metrics,
    )
    return Services(
        settings=settings,
        table=table,
        registrar=registrar,
        deployer=deployer,
        recipes=recipe_store,
        metrics=metrics,
        geolocator=geolocator,
    )


async def _load_static_cloudlets(settings: Tier1Settings, table: CloudletTable) -> None:
    if settings.static_cloudlets is None:
        return
    interval = settings.keepalive.max_interval
    ttl = interval * settings.keepalive.ttl_multiplier if settings.static_cloudlets_expire else None
    records = load_static_cloudlets(
        settings.static_cloudlets,
        now=time.time(),
        keepalive_interval=interval,
        ttl=ttl,
        trust_level=settings.admission.default_trust_level,
    )
    for record in records:
        await table.put(record)
    logger.info("loaded %d static cloudlet(s) from %s", len(records), settings.static_cloudlets)


async def _sweep(services: Services) -> None:
    """Delete expired rows; the loop then waits its configured interval."""
    expired = await services.table.expire()
    if expired:
        services.metrics.expired.inc(expired)
        logger.info("expired %d cloudlet row(s)", expired)
    services.metrics.cloudlets.set(await services.table.size())


async def _ping(app: FastAPI) -> None:
    services: Services | None = getattr(app.state, "services", None)
    if services is None:
        raise RuntimeError("not started")
    await services.table.ping()
