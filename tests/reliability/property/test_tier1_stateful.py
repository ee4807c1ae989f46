"""ST-1's cloudlet API as a state machine: any sequence of registrations, keepalives and
deregistrations, with the right, another row's or a forged credential, keeps the table
exactly what a model of the rules says, and every refusal is a problem body."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.reliability.property.strategies import EXAMPLES, PROPERTY
from tests.tier1.conftest import KEY, OTHER_KEY
from tier1.app import create_app
from tier1.settings import Tier1Settings

ROWS = "/api/v2/cloudlets"
NUMBERS = st.integers(1, 5)
PROBLEM = "application/problem+json"


class CloudletApi(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = TestClient(
            create_app(Tier1Settings(rate_limit={"enabled": False})),  # type: ignore[arg-type]
            raise_server_exceptions=False,
            client=("192.0.2.10", 40000),
        )
        self.client.__enter__()
        self.model: dict[int, tuple[str, str]] = {}
        """Row number → (its key, its current credential)."""
        self.stale: list[str] = []
        """Credentials that once were valid and are not any more."""

    def teardown(self) -> None:
        self.client.__exit__(None, None, None)

    def _refused(self, response: Any, *statuses: int) -> None:
        assert response.status_code in statuses, response.text
        assert response.headers["content-type"] == PROBLEM

    @rule(number=NUMBERS, other_key=st.booleans())
    def register(self, number: int, other_key: bool) -> None:
        key = OTHER_KEY if other_key else KEY
        body = {
            "cloudlet": {
                "uuid": str(uuid.UUID(int=number)),
                "name": f"edge-{number}",
                "endpoint": f"http://127.0.0.1:{7000 + number}/",
                "public_key": key,
            },
            "keepalive_interval": 60,
        }
        response = self.client.post(ROWS, json=body)
        existing = self.model.get(number)
        if existing is not None and existing[0] != key:
            self._refused(response, 409)
            return
        assert response.status_code == (201 if existing is None else 200), response.text
        if existing is not None:
            self.stale.append(existing[1])  # taking a row back replaces its credential
        self.model[number] = (key, response.json()["credential"])

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), whose=st.sampled_from(["own", "other", "stale", "forged", "none"]))
    def keepalive_or_deregister(self, data: st.DataObject, whose: str) -> None:
        number = data.draw(st.sampled_from(sorted(self.model)))
        credential = self._credential(data, number, whose)
        headers = {} if credential is None else {"Authorization": f"Bearer {credential}"}
        path = f"{ROWS}/{uuid.UUID(int=number)}"
        if data.draw(st.booleans()):
            response = self.client.put(f"{path}/keepalive", json={"metrics": {}}, headers=headers)
            if whose == "own":
                assert response.status_code == 200, response.text
            else:
                self._refused(response, 401 if credential is None else 403)
            return
        response = self.client.delete(path, headers=headers)
        if whose == "own":
            assert response.status_code == 204, response.text
            self.stale.append(self.model.pop(number)[1])
        else:
            self._refused(response, 401 if credential is None else 403)

    @rule(number=NUMBERS)
    def touch_a_missing_row(self, number: int) -> None:
        if number in self.model:
            return
        response = self.client.put(
            f"{ROWS}/{uuid.UUID(int=number)}/keepalive",
            json={"metrics": {}},
            headers={"Authorization": "Bearer some-credential-0123456789"},
        )
        self._refused(response, 404)

    def _credential(self, data: st.DataObject, number: int, whose: str) -> str | None:
        if whose == "own":
            return self.model[number][1]
        if whose == "other":
            others = [credential for n, (_, credential) in self.model.items() if n != number]
            return data.draw(st.sampled_from(others)) if others else "forged-credential-0123"
        if whose == "stale" and self.stale:
            return data.draw(st.sampled_from(self.stale))
        if whose == "none":
            return None
        return "forged-credential-0123456789"

    @invariant()
    def the_table_is_the_model(self) -> None:
        items = self.client.get(ROWS, params={"limit": 500}).json()["items"]
        rows = {
            uuid.UUID(item["static"]["uuid"]).int: item["static"]["public_key"] for item in items
        }
        assert rows == {number: key for number, (key, _) in self.model.items()}


TestCloudletApi = CloudletApi.TestCase
TestCloudletApi.settings = settings(
    PROPERTY, max_examples=max(10, EXAMPLES // 5), stateful_step_count=25
)
