"""The selection framework's vocabulary: statuses, the request, cycle state, plugin protocols."""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from common.device import NetworkType
from common.recipe import Recipe
from common.types import AppId, IPAddress
from tier1.netmatch import AddrKey
from tier1.records import CloudletRecord, Location

MAX_SCORE = 100.0
MIN_SCORE = 0.0


class Code(enum.Enum):
    SUCCESS = "success"
    REJECTED = "rejected"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Status:
    """What a plugin says about a request or a site, with reasons an operator can read."""

    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code in (Code.SUCCESS, Code.SKIP)


SUCCESS = Status(Code.SUCCESS)
SKIP = Status(Code.SKIP)


def rejected(plugin: str, *reasons: str) -> Status:
    return Status(Code.REJECTED, reasons, plugin)


@dataclass(frozen=True, slots=True)
class ClientContext:
    """The device as ST-1 sees it, after trusted-proxy and GeoIP handling."""

    address: IPAddress | None
    location: Location | None
    network: NetworkType = NetworkType.UNKNOWN
    address_key: AddrKey | None = field(init=False, repr=False, compare=False)
    """The address in the table's compact form, computed once."""

    def __post_init__(self) -> None:
        key = None if self.address is None else (self.address.version, int(self.address))
        object.__setattr__(self, "address_key", key)


@dataclass(frozen=True, slots=True)
class SelectionRequest:
    app: AppId
    client: ClientContext
    recipe: Recipe
    now: float
    """Wall-clock seconds since the epoch, for staleness."""


@dataclass(slots=True)
class CycleState:
    """Per-request scratch space plugins share (a pre-filter computes, a score reads).

    `rng` is the framework's seeded generator: plugins that need chance use it,
    so a seeded ST-1 ranks the same way every time.
    """

    rng: random.Random
    data: dict[str, Any] = field(default_factory=dict)


class Plugin(Protocol):
    NAME: ClassVar[str]


@runtime_checkable
class PreFilterPlugin(Protocol):
    NAME: ClassVar[str]

    def pre_filter(self, state: CycleState, request: SelectionRequest) -> Status: ...


@runtime_checkable
class FilterPlugin(Protocol):
    NAME: ClassVar[str]

    def filter(
        self, state: CycleState, request: SelectionRequest, site: CloudletRecord
    ) -> Status: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    """Sees every feasible site once before scoring (for rankings that need them all)."""

    NAME: ClassVar[str]

    def pre_score(
        self, state: CycleState, request: SelectionRequest, sites: Sequence[CloudletRecord]
    ) -> None: ...


@runtime_checkable
class ScorePlugin(Protocol):
    """`score` returns a value in [0, 100] unless the plugin also normalizes."""

    NAME: ClassVar[str]

    def score(
        self, state: CycleState, request: SelectionRequest, site: CloudletRecord
    ) -> float: ...


@runtime_checkable
class NormalizeScorePlugin(Protocol):
    NAME: ClassVar[str]

    def normalize(
        self, state: CycleState, request: SelectionRequest, scores: dict[Any, float]
    ) -> None: ...
