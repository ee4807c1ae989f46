"""Selection rules as properties: client ACLs never admit a rejected client, a deploy never
returns more than asked (and never more than 3), and equal inputs rank equally per seed."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import uuid
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from common.deployment import CloudletDeployRequest
from common.device import DeviceContext
from common.errors import NoEligibleCloudletError, SinfoniaError, UnavailableError
from common.recipe import Recipe
from common.types import AppId
from tests.reliability.property.strategies import (
    PROPERTY,
    ip_addresses,
    ip_networks,
    ipv4_addresses,
    locations,
)
from tests.tier1.records import make_record
from tests.tier1.standins import StandInCloudlet
from tier1.clientinfo import build_client_context
from tier1.deployer import Deployer
from tier1.ledger import MemoryLedger
from tier1.metrics import Tier1Metrics
from tier1.recipes import DirectoryRecipes
from tier1.selection.interface import SUCCESS, ClientContext, CycleState, SelectionRequest
from tier1.selection.plugins.args import NoArgs
from tier1.selection.plugins.client_networks import ClientNetworks
from tier1.selection.registry import IN_TREE, Registry
from tier1.selection.selector import Selector
from tier1.table.memory import MemoryTable
from tier1.tier2_client import Tier2Client

NOW = 1_800_000_000.0
APP = AppId(uuid.UUID(int=0xA1))
KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
RECIPE = Recipe.model_validate({"uuid": str(APP), "name": "app", "local": {"command": ["true"]}})


def _request(client: ClientContext) -> SelectionRequest:
    return SelectionRequest(app=APP, client=client, recipe=RECIPE, now=NOW)


def _as_client(address: Any) -> Any:
    """What the client really is: an IPv4-mapped IPv6 address is its IPv4 address."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


# -- client ACLs -----------------------------------------------------------------------------


@st.composite
def peers(draw: st.DrawFn) -> Any:
    """Any address, including IPv4 clients as a dual-stack socket shows them (::ffff:a.b.c.d)."""
    if draw(st.booleans()):
        return ipaddress.IPv6Address(f"::ffff:{draw(ipv4_addresses)}")
    return draw(ip_addresses)


@PROPERTY
@given(
    accepted=st.lists(ip_networks, min_size=1, max_size=4),
    rejected=st.lists(ip_networks, max_size=4),
    peer=peers(),
)
def test_client_acls_never_admit_a_rejected_client(
    accepted: list[Any], rejected: list[Any], peer: Any
) -> None:
    site = make_record(
        1,
        now=NOW,
        accepted_clients=[str(n) for n in accepted],
        rejected_clients=[str(n) for n in rejected],
    )
    client = build_client_context(
        peer=str(peer), headers={}, device=None, trusted_proxies=[], geolocator=None
    )
    status = ClientNetworks(NoArgs()).filter(
        CycleState(rng=random.Random(0)), _request(client), site
    )
    real = _as_client(peer)
    in_rejected = any(real.version == n.version and real in n for n in rejected)
    in_accepted = any(real.version == n.version and real in n for n in accepted)
    assert (status is SUCCESS) == (in_accepted and not in_rejected), (real, status)


@PROPERTY
@given(
    rejected=st.lists(ip_networks, min_size=1, max_size=3),
    peer=ip_addresses,
    spoofed=ip_addresses,
)
def test_forwarding_headers_from_an_untrusted_peer_change_nothing(
    rejected: list[Any], peer: Any, spoofed: Any
) -> None:
    honest = build_client_context(
        peer=str(peer), headers={}, device=None, trusted_proxies=[], geolocator=None
    )
    lying = build_client_context(
        peer=str(peer),
        headers={"x-clientip": str(spoofed), "x-forwarded-for": str(spoofed)},
        device=None,
        trusted_proxies=[],
        geolocator=None,
    )
    assert lying.address == honest.address == peer


# -- the short list --------------------------------------------------------------------------

Behaviour = str
BEHAVIOURS = ("deploy", "refuse", "garbage", "impostor", "unreachable")


def _fleet_transport(fleet: dict[str, tuple[uuid.UUID, Behaviour]]) -> httpx.MockTransport:
    """The transport edge: each cloudlet's host answers as its behaviour says."""

    def handle(request: httpx.Request) -> httpx.Response:
        cloudlet, behaviour = fleet[request.url.host]
        if behaviour == "unreachable":
            raise httpx.ConnectError("refused", request=request)
        if behaviour == "refuse":
            problem = UnavailableError("full").to_problem()
            return httpx.Response(
                503,
                content=problem.model_dump_json(),
                headers={"content-type": "application/problem+json"},
            )
        if behaviour == "garbage":
            return httpx.Response(200, content=b"{not json")
        body = CloudletDeployRequest.model_validate_json(request.content)
        owner = uuid.uuid4() if behaviour == "impostor" else cloudlet
        deployment = StandInCloudlet(owner).deployment(body)
        return httpx.Response(201, content=deployment.model_dump_json())

    return httpx.MockTransport(handle)


async def _deploy(
    behaviours: list[Behaviour], places: list[tuple[float, float]], results: int, seed: int
) -> list[Any]:
    table = MemoryTable(rng=random.Random(seed))
    fleet: dict[str, tuple[uuid.UUID, Behaviour]] = {}
    for number, (behaviour, place) in enumerate(zip(behaviours, places, strict=True), start=1):
        host = f"cloudlet-{number}.test"
        record = make_record(
            number, now=NOW, endpoint=f"http://{host}:5001/", locations=[list(place)]
        )
        fleet[host] = (record.uuid, behaviour)
        await table.put(record)
    metrics = Tier1Metrics.create()
    async with httpx.AsyncClient(transport=_fleet_transport(fleet)) as http:
        deployer = Deployer(
            table=table,
            selector=Selector(
                table=table,
                registry=Registry(IN_TREE),
                configured_pipeline=None,
                nearest=16,
                metrics=metrics,
                rng=random.Random(seed),
            ),
            recipes=DirectoryRecipes({APP: RECIPE}),
            tier2=Tier2Client(http, timeout=5.0),
            ledger=MemoryLedger(),
            deadline=10.0,
            metrics=metrics,
            wall_clock=lambda: NOW,
        )
        client = ClientContext(address=ipaddress.ip_address("192.0.2.7"), location=(40.4, -79.9))
        deployments = await deployer.deploy(APP, KEY, DeviceContext(), client, results)
    return [(d.cloudlet, fleet) for d in deployments]


@PROPERTY
@given(
    data=st.data(),
    behaviours=st.lists(st.sampled_from(BEHAVIOURS), max_size=8),
    results=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_a_deploy_returns_at_most_what_was_asked_and_only_real_deployments(
    data: st.DataObject, behaviours: list[Behaviour], results: int, seed: int
) -> None:
    places = data.draw(st.lists(locations, min_size=len(behaviours), max_size=len(behaviours)))
    try:
        answered = asyncio.run(_deploy(behaviours, places, results, seed))
    except NoEligibleCloudletError:
        assert not behaviours
        return
    except SinfoniaError:
        assert "deploy" not in behaviours
        return
    cloudlets = [cloudlet for cloudlet, _ in answered]
    assert 1 <= len(cloudlets) <= min(results, 3)
    assert len(set(cloudlets)) == len(cloudlets)
    fleet = answered[0][1]
    honest = {cloudlet for cloudlet, behaviour in fleet.values() if behaviour == "deploy"}
    assert set(cloudlets) <= honest
    assert len(cloudlets) == min(results, len(honest))


# -- ranking ---------------------------------------------------------------------------------


@PROPERTY
@given(
    count=st.integers(1, 12),
    ties=st.integers(1, 4),
    cpu=st.lists(st.floats(0.0, 0.8), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_equal_inputs_rank_equally_with_the_same_seed(
    count: int, ties: int, cpu: list[float], seed: int
) -> None:
    """Sites come in groups of identical ones (ties); two ST-1s seeded alike agree."""

    async def rank() -> list[uuid.UUID]:
        table = MemoryTable(rng=random.Random(seed))
        for number in range(1, count + 1):
            group = number % ties
            await table.put(
                make_record(
                    number,
                    now=NOW,
                    locations=[[40.0 + group / 10, -80.0]],
                    metrics={"cpu_utilization": cpu[group % len(cpu)]},
                )
            )
        selector = Selector(
            table=table,
            registry=Registry(IN_TREE),
            configured_pipeline=None,
            nearest=16,
            metrics=Tier1Metrics.create(),
            rng=random.Random(seed),
        )
        client = ClientContext(address=ipaddress.ip_address("192.0.2.7"), location=(40.4, -79.9))
        result = await selector.select(_request(client))
        return [scored.site.uuid for scored in result.ranked]

    first, second = asyncio.run(rank()), asyncio.run(rank())
    assert first == second
    assert sorted(first) == sorted(uuid.UUID(int=n) for n in range(1, count + 1))
