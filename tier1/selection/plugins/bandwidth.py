"""Score `bandwidth-headroom`: prefer cloudlets whose uplink has room left."""

from __future__ import annotations

from typing import ClassVar

from tier1.records import CloudletRecord
from tier1.selection.interface import CycleState, SelectionRequest
from tier1.selection.plugins.args import NoArgs

UNKNOWN_SCORE = 50.0


class BandwidthHeadroom:
    NAME: ClassVar[str] = "bandwidth-headroom"
    Args = NoArgs

    def __init__(self, args: NoArgs) -> None:
        del args

    def score(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> float:
        capacity = site.network_bytes_per_second
        load = site.load
        if not capacity or load.rx_bytes_per_second is None or load.tx_bytes_per_second is None:
            return UNKNOWN_SCORE
        used = max(load.rx_bytes_per_second, load.tx_bytes_per_second) / capacity
        return 100.0 * max(0.0, 1.0 - used)
