"""Score `legacy-matchers`: the original Sinfonia's matcher chain as a compatibility selector.

The chain (default `network`, `location`, `random`) ranks cloudlets the way
the original ST-1 did, without its bugs: a client counts as local when ANY of
a cloudlet's networks holds it (not ALL), a cloudlet is never taken twice,
and IPv6 clients are matched like IPv4 ones. More matchers come from the
`sinfonia.tier1_matchers` entry point group, each a `Matcher`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Annotated, ClassVar

from pydantic import Field

from tier1.netmatch import any_contains
from tier1.records import CloudletRecord
from tier1.selection.interface import ClientContext, CycleState, SelectionRequest
from tier1.selection.plugins.args import PluginArgs
from tier1.selection.rtt import nearest_km

Matcher = Callable[
    [ClientContext, Sequence[CloudletRecord], random.Random], Iterable[CloudletRecord]
]
"""Yields, best first, the cloudlets among those offered that this matcher wants."""

MATCHER_ENTRY_POINTS = "sinfonia.tier1_matchers"


def match_network(
    client: ClientContext, sites: Sequence[CloudletRecord], rng: random.Random
) -> Iterable[CloudletRecord]:
    address = client.address_key
    if address is None:
        return []
    return [site for site in sites if any_contains(site.local_networks, address)]


def match_location(
    client: ClientContext, sites: Sequence[CloudletRecord], rng: random.Random
) -> Iterable[CloudletRecord]:
    location = client.location
    if location is None:
        return []
    distances = {site.uuid: nearest_km(site, location) for site in sites}
    located = [site for site in sites if distances[site.uuid] is not None]
    return sorted(located, key=lambda site: distances[site.uuid] or 0.0)


def match_random(
    client: ClientContext, sites: Sequence[CloudletRecord], rng: random.Random
) -> Iterable[CloudletRecord]:
    shuffled = list(sites)
    rng.shuffle(shuffled)
    return shuffled


BUILTIN_MATCHERS: Mapping[str, Matcher] = {
    "network": match_network,
    "location": match_location,
    "random": match_random,
}


def load_matchers() -> dict[str, Matcher]:
    """The built-in matchers plus those installed under `sinfonia.tier1_matchers`."""
    matchers = dict(BUILTIN_MATCHERS)
    for entry in entry_points(group=MATCHER_ENTRY_POINTS):
        if entry.name in matchers:
            raise ValueError(f"matcher {entry.name!r} is defined twice")
        matchers[entry.name] = entry.load()
    return matchers


DEFAULT_CHAIN = ("network", "location", "random")


class LegacyArgs(PluginArgs):
    chain: Annotated[tuple[str, ...], Field(min_length=1, max_length=16)] = DEFAULT_CHAIN


class LegacyMatchers:
    NAME: ClassVar[str] = "legacy-matchers"
    Args = LegacyArgs

    def __init__(self, args: LegacyArgs) -> None:
        available = load_matchers()
        unknown = [name for name in args.chain if name not in available]
        if unknown:
            raise ValueError(f"unknown matcher(s) {unknown}; known: {sorted(available)}")
        self._chain = [available[name] for name in args.chain]

    def pre_score(
        self, state: CycleState, request: SelectionRequest, sites: Sequence[CloudletRecord]
    ) -> None:
        remaining = list(sites)
        order: list[CloudletRecord] = []
        for matcher in self._chain:
            taken = {site.uuid for site in order}
            for site in matcher(request.client, remaining, state.rng):
                if site.uuid not in taken:
                    taken.add(site.uuid)
                    order.append(site)
            remaining = [site for site in remaining if site.uuid not in taken]
        count = len(sites)
        state.data[self.NAME] = {
            site.uuid: 100.0 * (count - rank) / count for rank, site in enumerate(order)
        }

    def score(self, state: CycleState, request: SelectionRequest, site: CloudletRecord) -> float:
        ranks: dict[object, float] = state.data[self.NAME]
        return ranks.get(site.uuid, 0.0)
