"""Filter `capacity`: drop cloudlets whose CPU, memory or (for GPU recipes) GPU is saturated."""

from __future__ import annotations

from typing import ClassVar

from common.types import Fraction
from tier1.records import CloudletRecord
from tier1.selection.interface import SUCCESS, CycleState, SelectionRequest, Status, rejected
from tier1.selection.plugins.args import PluginArgs


class CapacityArgs(PluginArgs):
    max_cpu: Fraction = 0.95
    max_memory: Fraction = 0.95
    max_gpu: Fraction = 0.95


class Capacity:
    """Unknown utilisation (Prometheus down at the cloudlet) is not counted as full."""

    NAME: ClassVar[str] = "capacity"
    Args = CapacityArgs

    def __init__(self, args: CapacityArgs) -> None:
        self._args = args

    def filter(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> Status:
        load = site.load
        if load.cpu is not None and load.cpu >= self._args.max_cpu:
            return rejected(self.NAME, "CPU saturated")
        if load.memory is not None and load.memory >= self._args.max_memory:
            return rejected(self.NAME, "memory saturated")
        if (
            request.recipe.requirements.gpu
            and load.gpu is not None
            and load.gpu >= self._args.max_gpu
        ):
            return rejected(self.NAME, "GPU saturated")
        return SUCCESS
