"""ST-2 under abuse: deploys from parties that are no registered ST-1 (or, for JIT, from
outside the local networks), devices reaching for other devices' deployments, path tricks.
Each is a 4xx problem, and no deployment appears or disappears."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.keys import urlsafe_key
from tests.harness.netns import wireguard_keypair
from tests.reliability.conftest import ClientFactory, from_peer
from tests.reliability.support import assert_problem, eventually
from tests.tier2.conftest import LOCAL_APP, local_recipe
from tests.tier2.servers import serve_in_thread
from tests.tier2.standin_tier1 import StandInTier1

DEPLOYMENTS = "/api/v2/deployments"
LAN_PEER = "127.0.0.1"
OUTSIDE_PEER = "192.0.2.66"


def key() -> str:
    return wireguard_keypair()[1]


def deployments(client: TestClient) -> dict[str, int]:
    info = client.get("/api/v2/cloudlet", headers=from_peer(LAN_PEER))
    assert info.status_code == 200, info.text
    counts: dict[str, int] = info.json()["deployments"]
    return counts


def deploy(client: TestClient, client_key: str, peer: str, **extra: Any) -> Any:
    body = {"app": str(LOCAL_APP), "client_public_key": client_key, **extra.pop("body", {})}
    return client.post(DEPLOYMENTS, json=body, headers={**from_peer(peer), **extra})


@pytest.fixture
def registered(tier2_client: ClientFactory) -> Iterator[tuple[TestClient, str]]:
    """ST-2 registered with a (stand-in) ST-1; yields it and the deploy credential it gave."""
    standin = StandInTier1()
    with serve_in_thread(standin.build_app()) as url:
        client = tier2_client(tier1=[{"url": url, "keepalive_interval": 1.0}])
        assert eventually(lambda: bool(standin.registrations), seconds=15)
        credential = standin.registrations[-1].deploy_credential
        assert credential
        yield client, credential


@pytest.mark.parametrize(
    ("authorization", "peer"),
    [
        (None, OUTSIDE_PEER),
        (None, LAN_PEER),  # JIT is off: the local network is no credential either
        ("Bearer not-the-credential-we-gave", OUTSIDE_PEER),
        ("Bearer not-the-credential-we-gave", LAN_PEER),
        ("Basic dXNlcjpwYXNz", OUTSIDE_PEER),
        ("Bearer ", OUTSIDE_PEER),
        ("the-credential-without-a-scheme", OUTSIDE_PEER),
    ],
    ids=["none", "none-lan", "forged", "forged-lan", "basic", "empty", "no-scheme"],
)
def test_deploys_from_anyone_but_a_registered_tier1_are_refused(
    registered: tuple[TestClient, str], authorization: str | None, peer: str
) -> None:
    client, credential = registered
    headers = {} if authorization is None else {"Authorization": authorization}
    if authorization == "the-credential-without-a-scheme":
        headers = {"Authorization": credential}
    assert_problem(deploy(client, key(), peer, **headers), 401, "unauthorized")
    recipe = local_recipe()
    sent_recipe = deploy(client, key(), peer, body={"recipe": recipe}, **headers)
    assert_problem(sent_recipe, 401, "unauthorized")
    assert deployments(client) == {}
    # The positive control: the registered ST-1's credential deploys.
    allowed = deploy(client, key(), OUTSIDE_PEER, Authorization=f"Bearer {credential}")
    assert allowed.status_code == 201, allowed.text


@pytest.fixture
def jit(tier2_client: ClientFactory) -> TestClient:
    return tier2_client(jit=True, cloudlet={"local_networks": ["127.0.0.0/8", "10.9.0.0/16"]})


def test_jit_deploys_from_outside_the_local_networks_are_refused(jit: TestClient) -> None:
    for peer in (OUTSIDE_PEER, "10.10.0.1", "::ffff:192.0.2.1", "2001:db8::1"):
        assert_problem(deploy(jit, key(), peer), 401, "unauthorized")
    assert deployments(jit) == {}
    # From inside, a JIT client may deploy the cloudlet's own recipes, but bring none.
    assert_problem(
        deploy(jit, key(), "10.9.3.4", body={"recipe": local_recipe()}), 403, "forbidden"
    )
    assert deployments(jit) == {}
    assert deploy(jit, key(), "10.9.3.4").status_code == 201


def test_a_device_reaches_only_its_own_deployments_through_its_own_tunnel(
    jit: TestClient,
) -> None:
    mine, theirs = key(), key()
    created = {}
    for client_key in (mine, theirs):
        response = deploy(jit, client_key, LAN_PEER)
        assert response.status_code == 201, response.text
        created[client_key] = response.json()
    my_tunnel = created[mine]["tunnel"]["address"][0].split("/")[0]
    their_tunnel = created[theirs]["tunnel"]["address"][0].split("/")[0]
    their_path = f"{DEPLOYMENTS}/{LOCAL_APP}/{urlsafe_key(theirs)}"
    v1_path = f"/api/v1/deploy/{LOCAL_APP}/{urlsafe_key(theirs)}"

    for method, path in (("GET", their_path), ("DELETE", their_path), ("GET", v1_path)):
        refused = jit.request(method, path, headers=from_peer(my_tunnel))
        assert_problem(refused, 403, "forbidden")
        # Nor from the LAN, nor from outside: seeing a deployment takes its own tunnel.
        assert_problem(jit.request(method, path, headers=from_peer(LAN_PEER)), 403, "forbidden")
    assert_problem(jit.delete(v1_path, headers=from_peer(my_tunnel)), 403, "forbidden")
    # Through my tunnel I cannot deploy for their key either.
    assert_problem(deploy(jit, theirs, my_tunnel), 403, "forbidden")
    assert deployments(jit) == {"Deployed": 2}
    assert jit.get(their_path, headers=from_peer(their_tunnel)).status_code == 200
    mine_path = f"{DEPLOYMENTS}/{LOCAL_APP}/{urlsafe_key(mine)}"
    assert jit.get(mine_path, headers=from_peer(my_tunnel)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"{DEPLOYMENTS}/{LOCAL_APP}/../../../../etc/passwd",
        f"{DEPLOYMENTS}/{LOCAL_APP}/..%2F..%2Fetc%2Fpasswd",
        f"{DEPLOYMENTS}/..%2F..%2Fetc%2Fpasswd/AAAA",
        f"/api/v1/deploy/{LOCAL_APP}/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        f"/api/v1/deploy/{LOCAL_APP}.yaml/AAAA",
    ],
)
def test_path_tricks_find_no_deployment_and_no_recipe(jit: TestClient, path: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = jit.request(method, path, headers=from_peer(LAN_PEER))
        assert 400 <= response.status_code < 500, (method, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "root:" not in response.text
    assert deployments(jit) == {}


def test_v1_client_headers_from_a_device_are_not_believed(jit: TestClient) -> None:
    """X-ClientIP / X-Location are an ST-1's to send; from a device, even bad ones are ignored
    rather than parsed (an ST-1 sending garbage gets a 400: tests/tier2/test_api_local.py)."""
    path = f"/api/v1/deploy/{LOCAL_APP}/{urlsafe_key(key())}"
    headers = {"X-ClientIP": "not-an-address", "X-Location": "north-pole", **from_peer(LAN_PEER)}
    response = jit.post(path, headers=headers)
    assert response.status_code == 201, response.text
    assert uuid.UUID(response.json()[0]["UUID"]) == LOCAL_APP
