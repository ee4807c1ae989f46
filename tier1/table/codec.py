"""CloudletRecord to and from JSON for Redis: a static part, and the load a keepalive rewrites."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from common.types import CloudletId
from tier1.records import CloudletRecord, Load

_FORMAT = 2


def encode_static(record: CloudletRecord) -> str:
    """Everything but the load and the last update: written at registration only."""
    data: dict[str, Any] = {
        "v": _FORMAT,
        "uuid": str(record.uuid),
        "name": record.name,
        "endpoint": record.endpoint,
        "public_key": record.public_key,
        "owner": record.owner,
        "locations": record.locations,
        "local_networks": record.local_networks,
        "accepted_clients": record.accepted_clients,
        "rejected_clients": record.rejected_clients,
        "cpu_cores": record.cpu_cores,
        "memory_bytes": record.memory_bytes,
        "gpus": record.gpus,
        "network_bytes_per_second": record.network_bytes_per_second,
        "trust_level": record.trust_level,
        "operator": record.operator,
        "keepalive_interval": record.keepalive_interval,
        "ttl": record.ttl,
        "credential_digest": record.credential_digest,
        "deploy_credential": record.deploy_credential,
    }
    return json.dumps(data, separators=(",", ":"))


def encode_load(load: Load) -> str:
    return json.dumps(
        [
            load.cpu,
            load.memory,
            load.gpu,
            load.rx_bytes_per_second,
            load.tx_bytes_per_second,
            load.tier1_rtt_seconds,
            sorted(str(backend) for backend in load.backends),
        ],
        separators=(",", ":"),
    )


def decode_record(
    static: str | bytes, load: str | bytes, last_update: str | bytes
) -> CloudletRecord:
    data = json.loads(static)
    if data.get("v") != _FORMAT:
        raise ValueError(f"unknown record format {data.get('v')!r}")
    cpu, memory, gpu, rx, tx, rtt, backends = json.loads(load)
    return CloudletRecord(
        uuid=CloudletId(UUID(data["uuid"])),
        name=data["name"],
        endpoint=data["endpoint"],
        public_key=data["public_key"],
        owner=data["owner"],
        locations=tuple((lat, lon) for lat, lon in data["locations"]),
        local_networks=_net_keys(data["local_networks"]),
        accepted_clients=_net_keys(data["accepted_clients"]),
        rejected_clients=_net_keys(data["rejected_clients"]),
        cpu_cores=data["cpu_cores"],
        memory_bytes=data["memory_bytes"],
        gpus=tuple((model, count) for model, count in data["gpus"]),
        network_bytes_per_second=data["network_bytes_per_second"],
        load=Load(
            cpu=cpu,
            memory=memory,
            gpu=gpu,
            rx_bytes_per_second=rx,
            tx_bytes_per_second=tx,
            tier1_rtt_seconds=rtt,
            backends=frozenset(UUID(backend) for backend in backends),
        ),
        trust_level=data["trust_level"],
        operator=data["operator"],
        last_update=float(last_update),
        keepalive_interval=data["keepalive_interval"],
        ttl=data["ttl"],
        credential_digest=data["credential_digest"],
        deploy_credential=data["deploy_credential"],
    )


def _net_keys(values: list[list[int]]) -> tuple[tuple[int, int, int], ...]:
    return tuple((version, value, prefixlen) for version, value, prefixlen in values)
