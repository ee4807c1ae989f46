"""Filter and score `proximity`: estimated RTT from the client (same network, then distance)."""

from __future__ import annotations

from typing import ClassVar

from common.types import Seconds
from tier1.records import CloudletRecord
from tier1.selection.interface import SUCCESS, CycleState, SelectionRequest, Status, rejected
from tier1.selection.plugins.args import PluginArgs
from tier1.selection.rtt import estimate_rtt

UNKNOWN_SCORE = 25.0


class ProximityArgs(PluginArgs):
    reference_rtt: Seconds = 0.020
    """The RTT that scores 50; a local-network cloudlet scores about 90."""


class Proximity:
    """Score = 100 / (1 + rtt / reference). Recipes with `max_rtt_seconds` drop farther sites."""

    NAME: ClassVar[str] = "proximity"
    Args = ProximityArgs

    def __init__(self, args: ProximityArgs) -> None:
        self._reference = args.reference_rtt

    def _rtt(
        self, state: CycleState, request: SelectionRequest, site: CloudletRecord
    ) -> float | None:
        # Keyed by the snapshot's identity: it lives for the whole cycle, and ints hash fast.
        cache: dict[int, float | None] = state.data.setdefault(self.NAME, {})
        key = id(site)
        if key not in cache:
            client = request.client
            cache[key] = estimate_rtt(site, client.address_key, client.location)
        return cache[key]

    def filter(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> Status:
        bound = request.recipe.requirements.max_rtt_seconds
        if bound is None:
            return SUCCESS
        rtt = self._rtt(state, request, site)
        if rtt is not None and rtt > bound:
            return rejected(self.NAME, f"estimated RTT above {bound * 1000:.0f} ms")
        return SUCCESS

    def score(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> float:
        rtt = self._rtt(state, request, site)
        if rtt is None:
            return UNKNOWN_SCORE
        return 100.0 / (1.0 + rtt / self._reference)
