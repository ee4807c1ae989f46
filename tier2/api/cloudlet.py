"""`GET /api/v2/cloudlet`: who this cloudlet is, its load (whole and per node), its tunnel."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter

from common import __version__
from tier2.api.deps import RuntimeDep
from tier2.metrics import Load

router = APIRouter(prefix="/api/v2", tags=["cloudlet"])


@router.get("/cloudlet", summary="This cloudlet: identity, load, deployments by status")
async def get_cloudlet(runtime: RuntimeDep) -> dict[str, Any]:
    sample = runtime.sampler.latest
    statuses = Counter(record.status.value for record in runtime.manager.records())
    return {
        "uuid": str(runtime.identity.uuid),
        "name": runtime.cloudlet.name,
        "api": runtime.api_url,
        "version": __version__,
        "public_key": runtime.identity.public_key,
        "tunnel_endpoint": runtime.tunnel_info.endpoint,
        "ready": runtime.started,
        "load": {
            "taken": sample.taken.isoformat() if sample.taken else None,
            "cluster": _load(sample.cluster),
            "nodes": {node: _load(load) for node, load in sample.nodes.items()},
        },
        "deployments": dict(sorted(statuses.items())),
    }


def _load(load: Load) -> dict[str, float | None]:
    return {
        "cpu_utilization": load.cpu_utilization,
        "memory_utilization": load.memory_utilization,
        "gpu_utilization": load.gpu_utilization,
        "network_rx_bytes_per_second": load.network_rx_bytes_per_second,
        "network_tx_bytes_per_second": load.network_tx_bytes_per_second,
    }
