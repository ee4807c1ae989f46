"""Domain records to wire models, in one place: `Deployment` and its `TunnelConfig`."""

from __future__ import annotations

from pydantic import AnyHttpUrl

from common.deployment import BackendService, Deployment
from tier2.records import DeploymentRecord
from tier2.runtime import Runtime
from tier2.tunnel.config import build_tunnel_config


def to_deployment(record: DeploymentRecord, runtime: Runtime) -> Deployment:
    return Deployment(
        cloudlet=runtime.identity.uuid,
        cloudlet_name=runtime.cloudlet.name,
        cloudlet_endpoint=AnyHttpUrl(runtime.api_url),
        app=record.key.app,
        client_public_key=record.key.client_key,
        name=record.name,
        status=record.status,
        created=record.created,
        expires=record.expires,
        tunnel=build_tunnel_config(record, runtime.tunnel_info),
        services=[
            BackendService(name=s.name, host=s.host, port=s.port, protocol=s.protocol)
            for s in record.placement.services
        ],
    )
