"""Score `operator-preference`: the recipe's preferred operators score 100, others 0."""

from __future__ import annotations

from typing import ClassVar

from tier1.records import CloudletRecord
from tier1.selection.interface import CycleState, SelectionRequest
from tier1.selection.plugins.args import NoArgs


class OperatorPreference:
    NAME: ClassVar[str] = "operator-preference"
    Args = NoArgs

    def __init__(self, args: NoArgs) -> None:
        del args

    def score(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> float:
        preferred = request.recipe.selection.preferred_operators
        operator = site.operator or site.owner
        return 100.0 if operator is not None and operator in preferred else 0.0
