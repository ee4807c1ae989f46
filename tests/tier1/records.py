"""Builders of CloudletTable rows for the ST-1 tests."""

from __future__ import annotations

import uuid
from typing import Any

from common.cloudlet import CloudletMetrics, CloudletStatic
from common.types import CloudletId
from tier1.records import CloudletRecord

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


def make_static(number: int, **overrides: Any) -> CloudletStatic:
    body: dict[str, Any] = {
        "uuid": str(uuid.UUID(int=number)),
        "name": f"cloudlet-{number}",
        "endpoint": f"http://127.0.0.1:{6000 + number % 1000}/",
        "public_key": KEY,
    }
    body.update(overrides)
    return CloudletStatic.model_validate(body)


def make_record(
    number: int,
    *,
    metrics: dict[str, Any] | None = None,
    now: float = 1_800_000_000.0,
    ttl: float | None = 30.0,
    trust_level: int = 0,
    **static: Any,
) -> CloudletRecord:
    return CloudletRecord.from_static(
        make_static(number, **static),
        CloudletMetrics.model_validate(metrics or {}),
        trust_level=trust_level,
        operator=None,
        now=now,
        keepalive_interval=10.0,
        ttl=ttl,
    )


def cid(number: int) -> CloudletId:
    return CloudletId(uuid.UUID(int=number))
