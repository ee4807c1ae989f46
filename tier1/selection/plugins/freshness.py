"""Filter `fresh`: drop rows whose keepalives are late, before their TTL deletes them."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from tier1.records import CloudletRecord
from tier1.selection.interface import SUCCESS, CycleState, SelectionRequest, Status, rejected
from tier1.selection.plugins.args import PluginArgs


class FreshnessArgs(PluginArgs):
    missed_keepalives: Annotated[float, Field(gt=1.0, le=100.0)] = 2.5
    """How many intervals without a keepalive make a row stale."""


class Freshness:
    NAME: ClassVar[str] = "fresh"
    Args = FreshnessArgs

    def __init__(self, args: FreshnessArgs) -> None:
        self._missed = args.missed_keepalives

    def filter(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> Status:
        if site.ttl is None:
            return SUCCESS  # a static cloudlet configured at ST-1 sends no keepalives
        silent = request.now - site.last_update
        if silent > self._missed * site.keepalive_interval:
            return rejected(self.NAME, f"no keepalive for {silent:.0f}s")
        return SUCCESS
