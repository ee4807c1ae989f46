"""Runs one selection cycle: pre-filter, filter, score, normalize, weigh, rank."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from common.types import CloudletId
from tier1.metrics import Tier1Metrics
from tier1.records import CloudletRecord
from tier1.selection.interface import (
    MAX_SCORE,
    MIN_SCORE,
    SUCCESS,
    Code,
    CycleState,
    FilterPlugin,
    NormalizeScorePlugin,
    Plugin,
    PreFilterPlugin,
    PreScorePlugin,
    ScorePlugin,
    SelectionRequest,
    Status,
)

logger = logging.getLogger(__name__)

MAX_NAMES_PER_REASON = 10


@dataclass(frozen=True, slots=True)
class ScoredSite:
    site: CloudletRecord
    total: float
    scores: Mapping[str, float]
    """Each score plugin's normalized score (before its weight), for explaining a ranking."""


@dataclass(frozen=True, slots=True)
class SelectionResult:
    ranked: list[ScoredSite]
    rejected: dict[CloudletId, tuple[str, Status]]
    """Dropped sites: their name and the first status that dropped them."""

    def reasons(self) -> dict[str, list[str]]:
        """`plugin: reason` → the cloudlets it dropped (a few names each), for problem bodies."""
        grouped: dict[str, list[str]] = {}
        for name, status in self.rejected.values():
            key = f"{status.plugin}: {'; '.join(status.reasons) or status.code.value}"
            names = grouped.setdefault(key, [])
            if len(names) < MAX_NAMES_PER_REASON:
                names.append(name)
        return grouped


@dataclass(frozen=True, slots=True)
class EnabledPlugin:
    plugin: Plugin
    weight: int


class Framework:
    """One configured pipeline; plugins are pure over the snapshot, so a cycle does no I/O."""

    def __init__(
        self,
        plugins: Sequence[EnabledPlugin],
        *,
        rng: random.Random,
        metrics: Tier1Metrics | None = None,
    ) -> None:
        self._pre_filters: list[PreFilterPlugin] = []
        self._filters: list[FilterPlugin] = []
        self._pre_scorers: list[PreScorePlugin] = []
        self._scorers: list[tuple[ScorePlugin, int]] = []
        self._normalizers: set[str] = set()
        for enabled in plugins:
            plugin: object = enabled.plugin
            if isinstance(plugin, PreFilterPlugin):
                self._pre_filters.append(plugin)
            if isinstance(plugin, FilterPlugin):
                self._filters.append(plugin)
            if isinstance(plugin, PreScorePlugin):
                self._pre_scorers.append(plugin)
            if isinstance(plugin, ScorePlugin):
                self._scorers.append((plugin, enabled.weight))
            if isinstance(plugin, NormalizeScorePlugin):
                self._normalizers.add(enabled.plugin.NAME)
        self._rng = rng
        self._metrics = metrics
        self.plugin_names = [p.plugin.NAME for p in plugins]

    def run(
        self, request: SelectionRequest, candidates: Iterable[CloudletRecord]
    ) -> SelectionResult:
        state = CycleState(rng=self._rng)
        sites = list(candidates)
        rejected: dict[CloudletId, tuple[str, Status]] = {}

        for pre_filter in self._pre_filters:
            status = self._pre_filter_one(state, request, pre_filter)
            if not status.ok:
                for site in sites:
                    rejected[site.uuid] = (site.name, status)
                return SelectionResult(ranked=[], rejected=rejected)

        feasible: list[CloudletRecord] = []
        started = time.perf_counter()
        for site in sites:
            status = self._filter_one(state, request, site)
            if status is SUCCESS:
                feasible.append(site)
            else:
                rejected[site.uuid] = (site.name, status)
        self._observe("filter", "all", time.perf_counter() - started)

        for pre_scorer in self._pre_scorers:
            self._pre_score_one(state, request, pre_scorer, feasible)

        # Positions, not UUIDs, key the arithmetic: hashing a UUID is slow in CPython.
        totals = [0.0] * len(feasible)
        per_plugin: list[dict[str, float]] = [{} for _ in feasible]
        for scorer, weight in self._scorers:
            scores = self._score_all(state, request, scorer, feasible)
            if scores is None:
                continue
            for position, value in enumerate(scores):
                per_plugin[position][scorer.NAME] = value
                totals[position] += weight * value

        order = sorted(
            range(len(feasible)), key=lambda position: (-totals[position], self._rng.random())
        )
        ranked = [ScoredSite(feasible[p], totals[p], per_plugin[p]) for p in order]
        return SelectionResult(ranked=ranked, rejected=rejected)

    def _filter_one(
        self, state: CycleState, request: SelectionRequest, site: CloudletRecord
    ) -> Status:
        for plugin in self._filters:
            try:
                status = plugin.filter(state, request, site)
            except Exception:
                logger.exception("selection plugin %s failed in filter", plugin.NAME)
                return Status(Code.ERROR, ("the plugin failed",), plugin.NAME)
            if status is not SUCCESS and not status.ok:
                return status if status.plugin else Status(status.code, status.reasons, plugin.NAME)
        return SUCCESS

    def _score_all(
        self,
        state: CycleState,
        request: SelectionRequest,
        plugin: ScorePlugin,
        sites: list[CloudletRecord],
    ) -> list[float] | None:
        """Each site's score from one plugin, in site order; None if the plugin misbehaved."""
        started = time.perf_counter()
        try:
            scores = [float(plugin.score(state, request, site)) for site in sites]
            if plugin.NAME in self._normalizers and isinstance(plugin, NormalizeScorePlugin):
                by_uuid = {site.uuid: score for site, score in zip(sites, scores, strict=True)}
                plugin.normalize(state, request, by_uuid)
                scores = [by_uuid[site.uuid] for site in sites]
        except Exception:
            logger.exception("selection plugin %s failed in score", plugin.NAME)
            return None
        finally:
            self._observe("score", plugin.NAME, time.perf_counter() - started)
        out_of_range = [value for value in scores if not MIN_SCORE <= value <= MAX_SCORE]
        if out_of_range:
            logger.error(
                "selection plugin %s gave scores outside [0, 100] (e.g. %r); ignoring it",
                plugin.NAME,
                out_of_range[0],
            )
            return None
        return scores

    def _pre_filter_one(
        self, state: CycleState, request: SelectionRequest, plugin: PreFilterPlugin
    ) -> Status:
        started = time.perf_counter()
        try:
            status = plugin.pre_filter(state, request)
        except Exception:
            logger.exception("selection plugin %s failed in pre_filter", plugin.NAME)
            status = Status(Code.ERROR, ("the plugin failed",), plugin.NAME)
        finally:
            self._observe("pre_filter", plugin.NAME, time.perf_counter() - started)
        return status if status.plugin else Status(status.code, status.reasons, plugin.NAME)

    def _pre_score_one(
        self,
        state: CycleState,
        request: SelectionRequest,
        plugin: PreScorePlugin,
        sites: list[CloudletRecord],
    ) -> None:
        started = time.perf_counter()
        try:
            plugin.pre_score(state, request, sites)
        except Exception:
            # Its score step will find no prepared state and fail in turn; it is then ignored.
            logger.exception("selection plugin %s failed in pre_score", plugin.NAME)
        finally:
            self._observe("pre_score", plugin.NAME, time.perf_counter() - started)

    def _observe(self, point: str, plugin: str, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.plugin_duration.labels(extension_point=point, plugin=plugin).observe(
                seconds
            )
