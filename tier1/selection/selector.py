"""The selection upcall as ST-1 calls it: candidates from the table, a pipeline, the short list."""

from __future__ import annotations

import json
import random
import time

from common.errors import NoEligibleCloudletError
from common.recipe import PluginSetting
from tier1.metrics import Tier1Metrics
from tier1.selection.config import pipeline_for
from tier1.selection.external import ExternalSelector
from tier1.selection.framework import Framework, SelectionResult
from tier1.selection.interface import SelectionRequest
from tier1.selection.registry import Registry
from tier1.table.interface import CandidateQuery, CloudletTable

MIN_FEASIBLE = 6
"""Fewer feasible sites than this after filtering, and the search widens."""

WIDEN_FACTOR = 4
MAX_NEAREST = 512
"""The widest search: a request touches at most a few hundred rows."""


class Selector:
    """Builds each distinct pipeline once, runs a cycle per request, explains empty results."""

    def __init__(
        self,
        *,
        table: CloudletTable,
        registry: Registry,
        configured_pipeline: list[PluginSetting] | None,
        nearest: int,
        metrics: Tier1Metrics,
        rng: random.Random,
        external: ExternalSelector | None = None,
    ) -> None:
        self._table = table
        self._registry = registry
        self._configured = configured_pipeline
        self._nearest = nearest
        self._metrics = metrics
        self._rng = rng
        self._external = external
        self._frameworks: dict[str, Framework] = {}
        if configured_pipeline is not None:
            self._framework(configured_pipeline)  # fail at start, not on the first request

    def _framework(self, pipeline: list[PluginSetting]) -> Framework:
        key = json.dumps([setting.model_dump(mode="json") for setting in pipeline], sort_keys=True)
        framework = self._frameworks.get(key)
        if framework is None:
            plugins = self._registry.build(pipeline)
            framework = Framework(plugins, rng=self._rng, metrics=self._metrics)
            self._frameworks[key] = framework
        return framework

    async def select(self, request: SelectionRequest) -> SelectionResult:
        """Ranked sites, best first; raises `NoEligibleCloudletError` saying why when none fit."""
        started = time.perf_counter()
        framework = self._framework(pipeline_for(request.recipe, self._configured))
        nearest = self._nearest
        while True:
            query = CandidateQuery(
                client_address=request.client.address_key,
                client_location=request.client.location,
                nearest=nearest,
                gpu_only=request.recipe.requirements.gpu,
                sample_without_location=nearest,
            )
            candidates = await self._table.candidates(query)
            result = framework.run(request, candidates)
            # Like kube-scheduler's "enough feasible nodes": widen only when filters
            # left too few and the table may hold more.
            if (
                len(result.ranked) >= MIN_FEASIBLE
                or len(candidates) < nearest
                or nearest * WIDEN_FACTOR > MAX_NEAREST
            ):
                break
            nearest *= WIDEN_FACTOR
        self._metrics.selection_duration.observe(time.perf_counter() - started)
        if self._external is not None:
            result = await self._external.reorder(request, result)
        if not candidates:
            self._metrics.selection_results.labels(result="no_cloudlets").inc()
            raise NoEligibleCloudletError("no cloudlet is registered that could serve this client")
        if not result.ranked:
            self._metrics.selection_results.labels(result="none_eligible").inc()
            raise NoEligibleCloudletError(_explain(result), result.reasons())
        self._metrics.selection_results.labels(result="selected").inc()
        return result


def _explain(result: SelectionResult) -> str:
    plugins = {status.plugin for _, status in result.rejected.values()}
    if plugins == {"client-networks"}:
        return "no cloudlet accepts clients from this network"
    if plugins <= {"recipe-requirements", "capacity"}:
        return "no cloudlet meets the recipe's requirements"
    return f"{len(result.rejected)} cloudlet(s) considered, none eligible"
