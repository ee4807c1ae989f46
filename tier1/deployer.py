"""A device's deploy request end to end: recipe, selection, fan-out to cloudlets, release."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from common.deployment import CloudletDeployRequest, Deployment
from common.device import DeviceContext
from common.errors import SinfoniaError, UpstreamError, UpstreamTimeoutError
from common.types import AppId, CloudletId
from tier1.fanout import Outcome, deploy_ranked
from tier1.ledger import DeploymentLedger
from tier1.metrics import Tier1Metrics
from tier1.recipes import RecipeStore
from tier1.records import CloudletRecord
from tier1.selection.framework import SelectionResult
from tier1.selection.interface import ClientContext, SelectionRequest
from tier1.selection.selector import Selector
from tier1.table.interface import CloudletTable
from tier1.tier2_client import Tier2Client

logger = logging.getLogger(__name__)


class Deployer:
    def __init__(
        self,
        *,
        table: CloudletTable,
        selector: Selector,
        recipes: RecipeStore,
        tier2: Tier2Client,
        ledger: DeploymentLedger,
        deadline: float,
        metrics: Tier1Metrics,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._selector = selector
        self._recipes = recipes
        self._tier2 = tier2
        self._ledger = ledger
        self._deadline = deadline
        self._metrics = metrics
        self._wall_clock = wall_clock

    async def rank(self, app: AppId, client: ClientContext) -> SelectionResult:
        """The candidates a deploy would try, best first, without deploying."""
        recipe = await self._recipes.get(app)
        request = SelectionRequest(app=app, client=client, recipe=recipe, now=self._wall_clock())
        return await self._selector.select(request)

    async def deploy(
        self,
        app: AppId,
        client_key: str,
        device: DeviceContext,
        client: ClientContext,
        results: int,
    ) -> list[Deployment]:
        started = time.perf_counter()
        recipe = await self._recipes.get(app)
        selection = await self._selector.select(
            SelectionRequest(app=app, client=client, recipe=recipe, now=self._wall_clock())
        )
        request = CloudletDeployRequest(
            app=app,
            client_public_key=client_key,
            device=device.model_copy(update={"address": client.address}),
            recipe=recipe,
        )

        async def call(site: CloudletRecord) -> Deployment:
            return await self._tier2.deploy(site, request, client)

        outcomes = await deploy_ranked(
            [scored.site for scored in selection.ranked],
            want=results,
            deadline=self._deadline,
            call=call,
        )
        deployments = [outcome.deployment for outcome in outcomes if outcome.deployment]
        for outcome in outcomes:
            self._metrics.deploy_outcomes.labels(outcome=_outcome_label(outcome)).inc()
            if outcome.deployment is not None:
                await self._ledger.record(app, client_key, outcome.site.uuid, recipe.lease_seconds)
            elif outcome.error is not None:
                logger.warning(
                    "cloudlet %s did not deploy %s: %s",
                    outcome.site.name,
                    app,
                    outcome.error,
                    extra={"cloudlet": str(outcome.site.uuid), "app": str(app)},
                )
        self._metrics.deploy_duration.observe(time.perf_counter() - started)
        if not deployments:
            raise _no_deployment(outcomes)
        return deployments[:results]

    async def release(self, app: AppId, client_key: str, only: CloudletId | None = None) -> int:
        """Release the device's deployments on every cloudlet that holds one (or on `only`).

        Returns how many cloudlets confirmed the release.
        """
        holders = await self._ledger.holders(app, client_key)
        if only is not None:
            holders = holders & {only}
        sites = [site for site in [await self._table.get(uuid) for uuid in holders] if site]

        async def release_one(site: CloudletRecord) -> bool:
            try:
                await self._tier2.release(site, app, client_key)
            except SinfoniaError as exc:
                logger.warning("cloudlet %s did not release %s: %s", site.name, app, exc)
                return False
            return True

        try:
            async with asyncio.timeout(self._deadline):
                released = await asyncio.gather(*(release_one(site) for site in sites))
        except TimeoutError:
            released = []
        if only is None:
            await self._ledger.forget(app, client_key)
        return sum(released)


def _outcome_label(outcome: Outcome) -> str:
    if outcome.deployment is not None:
        return "deployed"
    if isinstance(outcome.error, UpstreamTimeoutError):
        return "timeout"
    return "failed"


def _no_deployment(outcomes: list[Outcome]) -> SinfoniaError:
    details = "; ".join(f"{o.site.name}: {o.error}" for o in outcomes if o.error is not None)
    if outcomes and all(isinstance(o.error, UpstreamTimeoutError) for o in outcomes):
        return UpstreamTimeoutError(f"no cloudlet deployed in time ({details})")
    return UpstreamError(f"no cloudlet could deploy the backend ({details or 'none tried'})")
