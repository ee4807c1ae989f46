"""ST-1 under abuse: admission without the right credential, someone else's row, self-granted
trust, spoofed client addresses, path tricks. Each is a 4xx problem and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.keys import urlsafe_key
from tests.reliability.conftest import ClientFactory, from_peer
from tests.reliability.support import assert_problem
from tests.support.servers import serve_in_thread
from tests.tier1.conftest import APP, KEY, OTHER_KEY
from tests.tier1.registration_bodies import registration
from tests.tier1.standins import StandInCloudlet

ROWS = "/api/v2/cloudlets"
TOKEN = "the-operators-registration-token"


def rows(client: TestClient) -> list[dict[str, Any]]:
    response = client.get(ROWS, params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def register(client: TestClient, number: int, **body: Any) -> str:
    response = client.post(ROWS, json={**registration(number), **body})
    assert response.status_code == 201, response.text
    credential: str = response.json()["credential"]
    return credential


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


# -- admission -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("admission", "extra", "status", "slug"),
    [
        ({"policy": "token", "token": TOKEN}, {}, 401, "unauthorized"),
        ({"policy": "token", "token": TOKEN}, {"registration_token": "a-guess"}, 403, "forbidden"),
        ({"policy": "token", "token": TOKEN}, {"registration_token": TOKEN[:-1]}, 403, "forbidden"),
        ({"policy": "token"}, {"registration_token": "anything"}, 403, "forbidden"),
        (
            {"policy": "allowlist", "allowlist": [{"public_key": OTHER_KEY, "operator": "acme"}]},
            {},
            403,
            "forbidden",
        ),
        (
            {"policy": "allowlist", "allowlist": [{"public_key": OTHER_KEY, "operator": "acme"}]},
            {"registration_token": TOKEN},
            403,
            "forbidden",
        ),
    ],
    ids=[
        "token-missing",
        "token-wrong",
        "token-one-short",
        "token-none-configured",
        "allowlist-unlisted-key",
        "allowlist-token-means-nothing",
    ],
)
def test_registration_without_the_right_credential_is_refused(
    tier1_client: ClientFactory,
    admission: dict[str, Any],
    extra: dict[str, Any],
    status: int,
    slug: str,
) -> None:
    client = tier1_client(admission=admission)
    response = client.post(ROWS, json={**registration(1), **extra})
    assert_problem(response, status, slug)
    assert rows(client) == []


def test_the_right_credential_is_admitted_under_each_policy(tier1_client: ClientFactory) -> None:
    """The positive control for the refusals above."""
    by_token = tier1_client(admission={"policy": "token", "token": TOKEN})
    register(by_token, 1, registration_token=TOKEN)
    listed = [{"public_key": KEY, "operator": "acme", "trust_level": 70}]
    by_list = tier1_client(admission={"policy": "allowlist", "allowlist": listed})
    register(by_list, 1)
    assert [row["trust_level"] for row in rows(by_list)] == [70]


def test_a_uuid_registered_with_another_key_is_not_taken_over(tier1_client: ClientFactory) -> None:
    client = tier1_client()
    register(client, 1)
    before = rows(client)
    hijack = registration(1, key=OTHER_KEY, endpoint="http://127.0.0.1:9999/", name="evil")
    assert_problem(client.post(ROWS, json=hijack), 409, "conflict")
    assert rows(client) == before


# -- someone else's row ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "slug"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "unauthorized"),
        ({"Authorization": "Bearer "}, 401, "unauthorized"),
        ({"Authorization": "Bearer not-a-credential-we-issued"}, 403, "forbidden"),
        ("other-row", 403, "forbidden"),
    ],
    ids=["none", "basic", "empty-bearer", "forged", "another-rows-credential"],
)
def test_keepalive_and_deregistration_need_the_rows_own_credential(
    tier1_client: ClientFactory, headers: Any, status: int, slug: str
) -> None:
    client = tier1_client()
    victim = uuid.UUID(int=1)
    register(client, 1)
    attacker = register(client, 2)
    if headers == "other-row":
        headers = bearer(attacker)
    before = rows(client)
    keepalive = client.put(
        f"{ROWS}/{victim}/keepalive",
        json={"metrics": {"cpu_utilization": 1.0, "backends": []}},
        headers=headers,
    )
    assert_problem(keepalive, status, slug)
    assert_problem(client.delete(f"{ROWS}/{victim}", headers=headers), status, slug)
    assert rows(client) == before  # the victim's load and last update are untouched


def test_a_cloudlet_cannot_set_its_own_trust_level(tier1_client: ClientFactory) -> None:
    client = tier1_client(admission={"default_trust_level": 10})
    claimed = registration(1)
    claimed["trust_level"] = 100
    assert_problem(client.post(ROWS, json=claimed), 422, "validation-failed")
    claimed = registration(1)
    claimed["cloudlet"]["trust_level"] = 100
    assert_problem(client.post(ROWS, json=claimed), 422, "validation-failed")
    assert rows(client) == []
    credential = register(client, 1)
    raised = client.put(
        f"{ROWS}/{uuid.UUID(int=1)}/keepalive",
        json={"metrics": {}, "trust_level": 100},
        headers=bearer(credential),
    )
    assert_problem(raised, 422, "validation-failed")
    assert [row["trust_level"] for row in rows(client)] == [10]


# -- who the client is -----------------------------------------------------------------------


@pytest.fixture
def picky_cloudlet(tier1_client: ClientFactory) -> Iterator[tuple[TestClient, StandInCloudlet]]:
    """One stand-in cloudlet that serves 198.51.100.0/24 only and refuses 10.0.0.0/8."""
    client = tier1_client(peer=("192.0.2.66", 40000))
    standin = StandInCloudlet(uuid.UUID(int=1))
    with ExitStack() as stack:
        url = stack.enter_context(serve_in_thread(standin.app()))
        body = registration(
            1,
            endpoint=url,
            accepted_clients=["198.51.100.0/24", "10.0.0.0/8"],
            rejected_clients=["10.0.0.0/8"],
        )
        assert client.post(ROWS, json=body).status_code == 201
        yield client, standin


def _deploy(client: TestClient, headers: dict[str, str]) -> Any:
    return client.post(
        "/api/v2/deploy", json={"app": APP, "client_public_key": KEY}, headers=headers
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"X-ClientIP": "198.51.100.5"},
        {"X-Forwarded-For": "198.51.100.5"},
        {"X-Forwarded-For": "10.9.9.9, 198.51.100.5", "X-ClientIP": "198.51.100.5"},
    ],
    ids=["x-clientip", "x-forwarded-for", "both"],
)
def test_spoofed_client_addresses_from_an_untrusted_peer_are_ignored(
    picky_cloudlet: tuple[TestClient, StandInCloudlet], headers: dict[str, str]
) -> None:
    client, standin = picky_cloudlet
    body = assert_problem(_deploy(client, headers), 503, "no-eligible-cloudlet")
    assert list(body["reasons"]) == ["client-networks: client network is not accepted"]
    assert standin.deploys == []
    # The same headers from a client the cloudlet accepts change nothing either way.
    assert _deploy(client, {**headers, **from_peer("198.51.100.7")}).status_code == 200


def test_an_ipv4_client_on_a_dual_stack_socket_is_still_that_client(
    picky_cloudlet: tuple[TestClient, StandInCloudlet],
) -> None:
    """Found by the ACL property test: `::ffff:10.1.2.3` slipped past `rejected: 10.0.0.0/8`."""
    client, standin = picky_cloudlet
    response = _deploy(client, from_peer("::ffff:10.1.2.3"))
    body = assert_problem(response, 503, "no-eligible-cloudlet")
    assert list(body["reasons"]) == ["client-networks: client network is rejected"]
    assert standin.deploys == []
    assert _deploy(client, from_peer("::ffff:198.51.100.7")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/recipe/..%2F..%2F..%2Fetc%2Fpasswd/",
        "/api/v1/recipe/%2e%2e%2f%2e%2e%2fetc%2fpasswd/",
        "/api/v1/recipe/..%252F..%252Fetc%252Fpasswd/",
        "/api/v2/recipes/..%5C..%5Cetc%5Cpasswd",
        "/api/v2/recipes/00000000-0000-0000-0000-0000000000a1%00.yaml",
        "/api/v2/recipes/00000000-0000-0000-0000-0000000000a1.yaml",
        "/api/v2/recipes/../../../../etc/passwd",
        f"/api/v1/deploy/..%2F..%2Fetc%2Fpasswd/{urlsafe_key(KEY)}",
    ],
)
def test_path_tricks_in_recipe_lookups_find_nothing(tier1_client: ClientFactory, path: str) -> None:
    client = tier1_client()
    response = client.request("POST" if "/deploy/" in path else "GET", path)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "root:" not in response.text
    # A restricted recipe stays restricted whatever the spelling of its UUID.
    restricted = "/api/v2/recipes/00000000-0000-0000-0000-0000000000A3"
    assert_problem(client.get(restricted), 403, "forbidden")
