"""Score `least-loaded`: prefer idle CPU (and idle GPU for GPU recipes), like LeastAllocated."""

from __future__ import annotations

from typing import ClassVar

from tier1.records import CloudletRecord
from tier1.selection.interface import CycleState, SelectionRequest
from tier1.selection.plugins.args import NoArgs

UNKNOWN_SCORE = 50.0


class LeastLoaded:
    NAME: ClassVar[str] = "least-loaded"
    Args = NoArgs

    def __init__(self, args: NoArgs) -> None:
        del args

    def score(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> float:
        load = site.load
        if request.recipe.requirements.gpu and load.gpu is not None:
            busy = load.gpu if load.cpu is None else (2 * load.gpu + load.cpu) / 3
        elif load.cpu is not None:
            busy = load.cpu
        else:
            return UNKNOWN_SCORE
        return 100.0 * (1.0 - busy)
