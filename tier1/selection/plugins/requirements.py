"""Filter `recipe-requirements`: GPU, CPU cores, memory and trust the recipe asks for."""

from __future__ import annotations

from typing import ClassVar

from common.cloudlet import TrustLevel
from tier1.records import CloudletRecord
from tier1.selection.interface import SUCCESS, CycleState, SelectionRequest, Status, rejected
from tier1.selection.plugins.args import PluginArgs


class RequirementsArgs(PluginArgs):
    min_trust: TrustLevel = 0
    """A floor under every recipe's own `min_trust`."""


class RecipeRequirements:
    """A cloudlet that declared no cores or memory (0) is not held to those numbers."""

    NAME: ClassVar[str] = "recipe-requirements"
    Args = RequirementsArgs

    def __init__(self, args: RequirementsArgs) -> None:
        self._min_trust = args.min_trust

    def filter(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> Status:
        needs = request.recipe.requirements
        min_trust = max(needs.min_trust, self._min_trust)
        if site.trust_level < min_trust:
            return rejected(self.NAME, f"trust level below {min_trust}")
        if needs.gpu:
            if not site.gpus:
                return rejected(self.NAME, "no GPU")
            if needs.gpu_models and not any(model in needs.gpu_models for model, _ in site.gpus):
                return rejected(self.NAME, f"no GPU of model {', '.join(needs.gpu_models)}")
        if site.cpu_cores and needs.cpu_cores > site.cpu_cores:
            return rejected(self.NAME, f"fewer than {needs.cpu_cores:g} CPU cores")
        if site.memory_bytes and needs.memory_bytes > site.memory_bytes:
            return rejected(self.NAME, "not enough memory")
        return SUCCESS
