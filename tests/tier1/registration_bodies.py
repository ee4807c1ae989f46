"""Registration bodies for the ST-1 API tests."""

from __future__ import annotations

import uuid
from typing import Any

from tests.tier1.conftest import KEY


def registration(number: int, *, key: str = KEY, **cloudlet: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": str(uuid.UUID(int=number)),
        "name": f"edge-{number}",
        "endpoint": f"http://127.0.0.1:{7000 + number}/",
        "public_key": key,
    }
    body.update(cloudlet)
    return {"cloudlet": body, "keepalive_interval": 5}
