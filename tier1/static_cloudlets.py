"""Cloudlets configured at ST-1 from YAML, in the original's multi-document `cloudlets.yaml` format.

Each document: `endpoint` (required), `name`, `location` and/or `locations`
(`[lat, lon]` pairs), `local_networks`, `accepted_clients`,
`rejected_clients`, `resources`; plus Sinfonia's `uuid`, to keep a row's
identity across restarts (derived from the endpoint when absent).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.geo import GeoLocation
from common.types import CloudletId, IPNet
from common.v1 import CloudletInfoV1
from tier1.records import CloudletRecord
from tier1.registrar import v1_record

_NAMESPACE = uuid.UUID("6f1d2c3e-52a4-4c61-9a57-2f1d1b3c9e10")


class StaticCloudletError(ValueError):
    """The static cloudlets file is malformed; raised at start."""


class StaticCloudlet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str
    uuid: CloudletId | None = None
    name: str | None = None
    location: GeoLocation | None = None
    locations: list[GeoLocation] = Field(default_factory=list)
    local_networks: list[IPNet] = Field(default_factory=list)
    accepted_clients: list[IPNet] = Field(default_factory=list)
    rejected_clients: list[IPNet] = Field(default_factory=list)
    resources: dict[str, float] = Field(default_factory=dict)


def load_static_cloudlets(
    path: Path, *, now: float, keepalive_interval: float, ttl: float | None, trust_level: int
) -> list[CloudletRecord]:
    try:
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise StaticCloudletError(f"{path}: {exc}") from exc
    records = []
    for number, document in enumerate(documents, start=1):
        try:
            static = StaticCloudlet.model_validate(document)
            info = CloudletInfoV1.model_validate(_as_v1(static))
        except ValidationError as exc:
            raise StaticCloudletError(f"{path}, document {number}: {exc}") from exc
        records.append(
            v1_record(
                info,
                now=now,
                interval=keepalive_interval,
                ttl=ttl,
                trust_level=trust_level,
            )
        )
    return records


def _as_v1(static: StaticCloudlet) -> dict[str, Any]:
    locations = ([static.location] if static.location else []) + static.locations
    return {
        "uuid": static.uuid or uuid.uuid5(_NAMESPACE, static.endpoint),
        "name": static.name,
        "endpoint": static.endpoint,
        "locations": locations,
        "local_networks": static.local_networks,
        "accepted_clients": static.accepted_clients,
        "rejected_clients": static.rejected_clients,
        "resources": static.resources,
    }
