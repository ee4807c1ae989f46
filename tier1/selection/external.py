"""An operator's own ranking service: it gets the request and the filtered, scored candidates.

Request (POST, JSON):
    {"app": uuid, "client": {"address": str|null, "location": [lat, lon]|null},
     "recipe": {"name": str, "qoe_class": str},
     "candidates": [{"uuid", "name", "operator", "trust_level", "score", "scores", "load"}]}
Response: {"order": [uuid, ...]}: the candidates to offer, best first; any not
listed are dropped. On a timeout, an error or an answer that does not parse,
ST-1 keeps its own ranking.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tier1.metrics import Tier1Metrics
from tier1.selection.framework import ScoredSite, SelectionResult
from tier1.selection.interface import SelectionRequest, Status, rejected

logger = logging.getLogger(__name__)

NAME = "external-selector"


class ExternalOrder(BaseModel):
    model_config = ConfigDict(extra="ignore")

    order: Annotated[list[UUID], Field(max_length=4096)]


class ExternalSelector:
    def __init__(
        self, *, url: str, timeout: float, client: httpx.AsyncClient, metrics: Tier1Metrics
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._client = client
        self._metrics = metrics

    async def reorder(self, request: SelectionRequest, result: SelectionResult) -> SelectionResult:
        if not result.ranked:
            return result
        try:
            async with asyncio.timeout(self._timeout):  # the whole call, not each read
                response = await self._client.post(
                    self._url, json=_payload(request, result.ranked), timeout=self._timeout
                )
            response.raise_for_status()
            order = ExternalOrder.model_validate_json(response.content).order
        except (httpx.TimeoutException, TimeoutError):
            return self._fallback(result, "timeout")
        except (httpx.HTTPError, ValidationError) as exc:
            logger.warning("external selector failed (%s); using the built-in ranking", exc)
            return self._fallback(result, "error")
        self._metrics.external_selector.labels(outcome="ok").inc()
        by_uuid = {scored.site.uuid: scored for scored in result.ranked}
        ranked: list[ScoredSite] = []
        for uuid in order:
            scored = by_uuid.pop(uuid, None)  # type: ignore[call-overload]
            if scored is not None:
                ranked.append(scored)
        dropped: dict[Any, tuple[str, Status]] = dict(result.rejected)
        for uuid, scored in by_uuid.items():
            dropped[uuid] = (
                scored.site.name,
                rejected(NAME, "not chosen by the external selector"),
            )
        return SelectionResult(ranked=ranked, rejected=dropped)

    def _fallback(self, result: SelectionResult, outcome: str) -> SelectionResult:
        self._metrics.external_selector.labels(outcome=outcome).inc()
        return result


def _payload(request: SelectionRequest, ranked: list[ScoredSite]) -> dict[str, Any]:
    client = request.client
    return {
        "app": str(request.app),
        "client": {
            "address": None if client.address is None else str(client.address),
            "location": None if client.location is None else list(client.location),
        },
        "recipe": {
            "name": request.recipe.name,
            "qoe_class": request.recipe.selection.qoe_class.value,
        },
        "candidates": [
            {
                "uuid": str(scored.site.uuid),
                "name": scored.site.name,
                "operator": scored.site.operator,
                "trust_level": scored.site.trust_level,
                "score": scored.total,
                "scores": dict(scored.scores),
                "load": {"cpu": scored.site.load.cpu, "gpu": scored.site.load.gpu},
            }
            for scored in ranked
        ],
    }
