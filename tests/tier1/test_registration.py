"""Admission, keepalives, ownership and expiry through ST-1's HTTP API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.tier1.conftest import KEY, OTHER_KEY
from tests.tier1.registration_bodies import registration

PROBLEM = "application/problem+json"


def problem_type(response: Any) -> str:
    assert response.headers["content-type"] == PROBLEM, response.text
    return str(response.json()["type"]).removeprefix("urn:sinfonia:problem:")


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def listing(client: TestClient) -> dict[str, Any]:
    items = client.get("/api/v2/cloudlets").json()["items"]
    return {item["static"]["uuid"]: item for item in items}


def test_register_negotiates_interval_and_issues_a_credential(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(keepalive={"min_interval": 10, "max_interval": 60, "ttl_multiplier": 3})
    response = client.post("/api/v2/cloudlets", json=registration(1))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["keepalive_interval"] == 10  # asked for 5, held at the minimum
    assert body["ttl"] == 30
    assert len(body["credential"]) >= 32
    assert body["trust_level"] == 0
    assert str(uuid.UUID(int=1)) in listing(client)


def test_keepalive_updates_dynamic_attributes(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    credential = client.post("/api/v2/cloudlets", json=registration(1)).json()["credential"]
    response = client.put(
        f"/api/v2/cloudlets/{uuid.UUID(int=1)}/keepalive",
        json={"metrics": {"cpu_utilization": 0.42, "future_metric": 7}},
        headers=bearer(credential),
    )
    assert response.status_code == 200, response.text
    assert response.json()["keepalive_interval"] == 5
    row = listing(client)[str(uuid.UUID(int=1))]
    assert row["metrics"]["cpu_utilization"] == 0.42


def test_a_cloudlet_cannot_touch_another_cloudlets_row(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    mine = client.post("/api/v2/cloudlets", json=registration(1)).json()["credential"]
    client.post("/api/v2/cloudlets", json=registration(2))
    target = f"/api/v2/cloudlets/{uuid.UUID(int=2)}"
    before = listing(client)[str(uuid.UUID(int=2))]

    anonymous = client.put(f"{target}/keepalive", json={"metrics": {"cpu_utilization": 1.0}})
    assert anonymous.status_code == 401
    assert problem_type(anonymous) == "unauthorized"
    forged = client.put(
        f"{target}/keepalive", json={"metrics": {"cpu_utilization": 1.0}}, headers=bearer(mine)
    )
    assert forged.status_code == 403
    assert problem_type(forged) == "forbidden"
    removal = client.delete(target, headers=bearer(mine))
    assert removal.status_code == 403
    assert listing(client)[str(uuid.UUID(int=2))] == before


def test_restart_with_same_uuid_and_key_takes_the_row_back(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    old = client.post("/api/v2/cloudlets", json=registration(1)).json()["credential"]
    again = client.post("/api/v2/cloudlets", json=registration(1, name="edge-1-restarted"))
    assert again.status_code == 200
    new = again.json()["credential"]
    assert new != old
    rows = listing(client)
    assert len(rows) == 1
    assert rows[str(uuid.UUID(int=1))]["static"]["name"] == "edge-1-restarted"
    path = f"/api/v2/cloudlets/{uuid.UUID(int=1)}/keepalive"
    assert client.put(path, json={"metrics": {}}, headers=bearer(old)).status_code == 403
    assert client.put(path, json={"metrics": {}}, headers=bearer(new)).status_code == 200


def test_same_uuid_with_another_key_is_a_conflict(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post("/api/v2/cloudlets", json=registration(1))
    response = client.post("/api/v2/cloudlets", json=registration(1, key=OTHER_KEY, name="thief"))
    assert response.status_code == 409
    assert problem_type(response) == "conflict"
    assert listing(client)[str(uuid.UUID(int=1))]["static"]["name"] == "edge-1"


def test_deregistration_and_forgotten_rows(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    credential = client.post("/api/v2/cloudlets", json=registration(1)).json()["credential"]
    path = f"/api/v2/cloudlets/{uuid.UUID(int=1)}"
    assert client.delete(path, headers=bearer(credential)).status_code == 204
    gone = client.put(f"{path}/keepalive", json={"metrics": {}}, headers=bearer(credential))
    assert gone.status_code == 404
    assert problem_type(gone) == "cloudlet-not-found"
    assert client.get(path).status_code == 404


def test_allowlist_policy_sets_trust_and_operator(make_client: Callable[..., TestClient]) -> None:
    client = make_client(
        admission={
            "policy": "allowlist",
            "allowlist": [{"public_key": KEY, "operator": "CMU", "trust_level": 80}],
        }
    )
    refused = client.post("/api/v2/cloudlets", json=registration(2, key=OTHER_KEY))
    assert refused.status_code == 403
    assert listing(client) == {}
    # A cloudlet claiming its own trust level is refused (422), not believed.
    body = registration(1)
    body["trust_level"] = 100
    body["cloudlet"]["trust_level"] = 100
    assert client.post("/api/v2/cloudlets", json=body).status_code == 422
    assert listing(client) == {}
    admitted = client.post("/api/v2/cloudlets", json=registration(1))
    assert admitted.status_code == 201
    assert admitted.json()["trust_level"] == 80
    row = listing(client)[str(uuid.UUID(int=1))]
    assert row["trust_level"] == 80


@pytest.mark.parametrize(
    ("token", "status"), [(None, 401), ("wrong-token", 403), ("s3cret-token", 201)]
)
def test_token_policy(
    make_client: Callable[..., TestClient], token: str | None, status: int
) -> None:
    client = make_client(admission={"policy": "token", "token": "s3cret-token"})
    body = registration(1)
    if token is not None:
        body["registration_token"] = token
    assert client.post("/api/v2/cloudlets", json=body).status_code == status
    assert len(listing(client)) == (1 if status == 201 else 0)


def test_rows_expire_when_keepalives_stop(make_client: Callable[..., TestClient]) -> None:
    client = make_client(
        keepalive={"min_interval": 0.1, "ttl_multiplier": 2, "sweep_interval": 0.05}
    )
    body = registration(1)
    body["keepalive_interval"] = 0.1
    assert client.post("/api/v2/cloudlets", json=body).status_code == 201
    deadline = time.monotonic() + 5
    while listing(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listing(client) == {}
    assert "sinfonia_tier1_expired_total 1.0" in client.get("/metrics").text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/api/v2/cloudlets/not-a-uuid/keepalive", {"metrics": {}}),
        ("post", "/api/v2/cloudlets", {"cloudlet": {"uuid": "x"}}),
        ("post", "/api/v2/cloudlets", registration(1, locations=[[91, 0]])),
        ("post", "/api/v2/cloudlets", registration(1, local_networks=["10.0.0.1/8"])),
        ("post", "/api/v2/cloudlets", registration(1, public_key="short")),
    ],
)
def test_bad_input_is_a_422_and_changes_nothing(
    make_client: Callable[..., TestClient], method: str, path: str, body: dict[str, Any]
) -> None:
    client = make_client()
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 422
    assert problem_type(response) == "validation-failed"
    assert listing(client) == {}


def test_oversized_registration_is_a_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=4096)
    body = registration(1, name="x" * 200, owner="y" * 5000)
    response = client.post("/api/v2/cloudlets", json=body)
    assert response.status_code == 413
    assert listing(client) == {}


def test_v1_listing_uses_the_original_shape(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.post(
        "/api/v2/cloudlets",
        json=registration(1, locations=[[40.44, -79.94]], local_networks=["128.2.0.0/16"]),
    )
    (row,) = client.get("/api/v1/cloudlets/").json()
    assert row["endpoint"] == "http://127.0.0.1:7001/"
    assert row["locations"] == [[40.44, -79.94]]
    assert row["local_networks"] == ["128.2.0.0/16"]
    assert row["accepted_clients"] == ["0.0.0.0/0", "::/0"]


def test_v1_push_is_refused_unless_enabled(make_client: Callable[..., TestClient]) -> None:
    info = {"uuid": str(uuid.UUID(int=9)), "endpoint": "http://127.0.0.1:5000/api/v1/deploy"}
    closed = make_client()
    assert closed.post("/api/v1/cloudlets/", json=info).status_code == 403
    opened = make_client(admission={"accept_v1_updates": True})
    assert opened.post("/api/v1/cloudlets/", json=info).status_code == 204
    assert opened.post("/api/v1/cloudlets/", json=info).status_code == 204
    assert [row["uuid"] for row in opened.get("/api/v1/cloudlets/").json()] == [info["uuid"]]


def test_listing_pages_and_health(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for number in range(1, 8):
        client.post("/api/v2/cloudlets", json=registration(number))
    first = client.get("/api/v2/cloudlets", params={"limit": 5}).json()
    assert len(first["items"]) == 5
    second = client.get("/api/v2/cloudlets", params={"cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 2
    assert client.get("/api/v2/cloudlets", params={"cursor": "x!"}).status_code == 400
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
