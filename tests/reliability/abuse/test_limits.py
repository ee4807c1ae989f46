"""Oversized bodies and headers, and floods: each service refuses them with a problem, and a
flood from one client is cut off by the per-client rate limit without hurting anyone else."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.reliability.conftest import OUTSIDER, ClientFactory, from_peer
from tests.reliability.support import assert_problem
from tests.support.servers import serve_in_thread
from tests.tier1.registration_bodies import registration
from tier1.app import create_app as create_tier1
from tier1.settings import Tier1Settings

ROWS = "/api/v2/cloudlets"
TIGHT = {"requests_per_second": 0.5, "burst": 5, "exempt_networks": []}


def _size(client: TestClient, peer: str = "198.51.100.7") -> int:
    """Rows in the table, read by a peer of its own (the listing is rate limited too)."""
    response = client.get(ROWS, params={"limit": 500}, headers=from_peer(peer))
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def _open_route(tier: str) -> tuple[str, str]:
    """A route of each service that any caller reaches (method, path)."""
    return {
        "tier1": ("POST", ROWS),
        "tier2": ("POST", "/api/v2/deployments"),
        "tier3": ("POST", "/api/v2/backends"),
    }[tier]


@pytest.fixture(params=["tier1", "tier2", "tier3"])
def service(
    request: pytest.FixtureRequest,
    tier1_client: ClientFactory,
    tier2_client: ClientFactory,
    tier3_client: ClientFactory,
) -> tuple[str, ClientFactory]:
    factories = {"tier1": tier1_client, "tier2": tier2_client, "tier3": tier3_client}
    return request.param, factories[request.param]


def test_an_oversized_body_is_a_413_on_every_service(service: tuple[str, ClientFactory]) -> None:
    tier, make = service
    client = make(max_body_bytes=4096)
    method, path = _open_route(tier)
    response = client.request(
        method,
        path,
        content=b"{" + b" " * 8192 + b"}",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 413, "payload-too-large")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-padding": "a" * 20_000},
        {f"x-field-{number}": "1" for number in range(150)},
    ],
    ids=["one-huge-field", "too-many-fields"],
)
def test_oversized_headers_are_a_431_on_every_service(
    service: tuple[str, ClientFactory], headers: dict[str, str]
) -> None:
    tier, make = service
    client = make()
    method, path = _open_route(tier)
    body = assert_problem(client.request(method, path, headers=headers), 431, "headers-too-large")
    assert "header fields" in body["detail"]
    # A normal request right after is served as usual.
    assert client.get("/healthz").status_code == 200


def test_registrations_past_an_oversized_header_change_nothing(tier1_client: ClientFactory) -> None:
    client = tier1_client(max_header_bytes=2048)
    response = client.post(ROWS, json=registration(1), headers={"x-padding": "a" * 4096})
    assert_problem(response, 431, "headers-too-large")
    assert _size(client) == 0


def test_a_registration_flood_from_one_client_is_cut_off_with_429(
    tier1_client: ClientFactory,
) -> None:
    flooder = tier1_client(peer=OUTSIDER, rate_limit=TIGHT)
    statuses = [flooder.post(ROWS, json=registration(n)).status_code for n in range(1, 21)]
    assert statuses[:5] == [201] * 5
    assert statuses[5:].count(429) >= 12  # at 0.5/s, a token or two more in the meantime
    refused = flooder.post(ROWS, json=registration(99))
    body = assert_problem(refused, 429, "too-many-requests")
    assert body["retryable"] is True
    assert int(refused.headers["retry-after"]) >= 1
    # State: only the admitted registrations made rows; another client is still served.
    assert _size(flooder) == statuses.count(201)
    other = flooder.post(ROWS, json=registration(100), headers=from_peer("198.51.100.8"))
    assert other.status_code == 201
    # Probes and scrapes are never limited.
    assert flooder.get("/healthz").status_code == 200
    assert flooder.get("/metrics").status_code == 200


def test_spoofed_forwarding_headers_do_not_escape_the_limit(tier1_client: ClientFactory) -> None:
    flooder = tier1_client(peer=OUTSIDER, rate_limit=TIGHT)
    statuses = [
        flooder.get(
            ROWS, headers={"X-Forwarded-For": f"203.0.113.{n}", "X-ClientIP": f"203.0.113.{n}"}
        ).status_code
        for n in range(20)
    ]
    assert statuses.count(429) >= 12


def test_clients_behind_a_trusted_proxy_are_limited_one_by_one(tier1_client: ClientFactory) -> None:
    proxy = tier1_client(
        peer=("10.0.0.5", 40000),
        clients={"trusted_proxies": ["10.0.0.0/24"]},
        rate_limit=TIGHT,
    )

    def as_client(address: str) -> int:
        status: int = proxy.get(ROWS, headers={"X-Forwarded-For": address}).status_code
        return status

    first = [as_client("203.0.113.1") for _ in range(8)]
    assert first.count(429) >= 2
    assert as_client("203.0.113.2") == 200  # someone else behind the same proxy


def test_the_limit_recovers_after_retry_after(tier1_client: ClientFactory) -> None:
    client = tier1_client(
        rate_limit={"requests_per_second": 20.0, "burst": 2, "exempt_networks": []}
    )
    assert [client.get(ROWS).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.2)  # four tokens' worth at 20/s; one is enough
    assert client.get(ROWS).status_code == 200


def test_ipv6_clients_share_a_bucket_per_64(tier1_client: ClientFactory) -> None:
    first = tier1_client(peer=("2001:db8:1:2::1", 1), rate_limit=TIGHT)
    assert [first.get(ROWS).status_code for _ in range(5)] == [200] * 5
    # Another address of the same /64 is the same client; another /64 is not.
    same = first.get(ROWS, headers=from_peer("2001:db8:1:2::ffff"))
    assert_problem(same, 429, "too-many-requests")
    assert first.get(ROWS, headers=from_peer("2001:db8:1:3::1")).status_code == 200


def test_loopback_is_exempt_by_default_and_tier3_is_unlimited_by_default(
    tier1_client: ClientFactory, tier3_client: ClientFactory
) -> None:
    tier1 = tier1_client(peer=("127.0.0.1", 1), rate_limit={"burst": 1})
    assert {tier1.get(ROWS).status_code for _ in range(10)} == {200}
    daemon = tier3_client()
    assert {daemon.get("/api/v2/backends").status_code for _ in range(300)} == {200}


def test_tier2_and_tier3_limits_when_configured(
    tier2_client: ClientFactory, tier3_client: ClientFactory
) -> None:
    cloudlet = tier2_client(peer=OUTSIDER, rate_limit=TIGHT)
    deploy: dict[str, Any] = {"app": str(uuid.uuid4()), "client_public_key": "x"}
    statuses = [cloudlet.post("/api/v2/deployments", json=deploy).status_code for _ in range(8)]
    assert statuses[:5] == [401] * 5  # refused on their merits until the bucket is empty
    assert 429 in statuses[5:]
    daemon = tier3_client(rate_limit={"enabled": True, **TIGHT})
    statuses = [daemon.get("/api/v2/backends").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]


def test_a_real_server_passes_a_megabyte_of_headers_to_the_app_which_refuses_them() -> None:
    """uvicorn (httptools) sets no header limit of its own: the 431 comes from the service."""
    app = create_tier1(Tier1Settings())
    with serve_in_thread(app) as url:
        response = httpx.get(
            f"{url}{ROWS}", headers={"x-padding": "a" * 1_000_000}, timeout=10, trust_env=False
        )
    assert_problem(response, 431, "headers-too-large")
