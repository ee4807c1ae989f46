"""Deploy requests, device context, deployments and tunnel configs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from common.deployment import Deployment, DeploymentStatus, DeployRequest, DeployResponse
from common.device import DeviceContext, NetworkType
from common.tunnel import TunnelConfig

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
CLOUDLET_KEY = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
APP = uuid.UUID("00000000-0000-0000-0000-000000000000")


def tunnel(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "public_key": CLOUDLET_KEY,
        "endpoint": "192.0.2.10:51820",
        "allowed_ips": ["10.43.0.0/16", "fd00:43::/64"],
        "address": ["10.5.0.2/32", "fd00:5::2/128"],
        "dns": ["10.43.0.10", "demo.svc.cluster.local", "cluster.local"],
    }
    body.update(overrides)
    return body


def deployment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cloudlet": str(uuid.UUID(int=7)),
        "app": str(APP),
        "client_public_key": KEY,
        "name": "demo-app-x7k2",
        "status": "Deployed",
        "created": "2026-11-26T10:00:00Z",
        "tunnel": tunnel(),
    }
    body.update(overrides)
    return body


def test_deploy_request_defaults() -> None:
    request = DeployRequest.model_validate({"app": str(APP), "client_public_key": KEY})
    assert request.results == 1
    assert request.device == DeviceContext()
    assert request.device.network is NetworkType.UNKNOWN


@pytest.mark.parametrize("results", [0, 4, -1])
def test_results_is_one_to_three(results: int) -> None:
    with pytest.raises(ValidationError, match="results"):
        DeployRequest.model_validate(
            {"app": str(APP), "client_public_key": KEY, "results": results}
        )


def test_device_context_carries_address_location_hardware_network() -> None:
    context = DeviceContext.model_validate(
        {
            "address": "2001:db8::42",
            "location": "40.44,-79.94",
            "hardware": {"cpu_cores": 8, "memory_bytes": 8 * 2**30, "gpus": ["Adreno 740"]},
            "network": "WiFi",
        }
    )
    assert str(context.address) == "2001:db8::42"
    assert context.location is not None
    assert context.location.longitude == -79.94
    assert context.network is NetworkType.WIFI


def test_a_network_type_from_a_newer_device_reads_as_unknown() -> None:
    assert DeviceContext.model_validate({"network": "6g"}).network is NetworkType.UNKNOWN


@pytest.mark.parametrize(
    "context",
    [{"address": "300.1.1.1"}, {"location": "91,0"}, {"hardware": {"cpu_cores": -2}}],
)
def test_device_context_rejects_bad_values(context: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DeviceContext.model_validate(context)


def test_tunnel_config_splits_dns_servers_from_search_domains() -> None:
    config = TunnelConfig.model_validate(tunnel())
    assert config.dns_servers == ["10.43.0.10"]
    assert config.search_domains == ["demo.svc.cluster.local", "cluster.local"]
    assert [str(address) for address in config.address] == ["10.5.0.2/32", "fd00:5::2/128"]


@pytest.mark.parametrize(
    "override",
    [
        {"allowed_ips": []},
        {"address": []},
        {"endpoint": "192.0.2.10"},
        {"dns": ["not a domain!"]},
        {"public_key": "AAAA"},
    ],
)
def test_tunnel_config_rejects_bad_values(override: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TunnelConfig.model_validate(tunnel(**override))


def test_deployment_round_trips_and_requires_aware_times() -> None:
    parsed = Deployment.model_validate(deployment())
    assert parsed.status is DeploymentStatus.DEPLOYED
    assert parsed.created == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert Deployment.model_validate_json(parsed.model_dump_json()) == parsed
    with pytest.raises(ValidationError, match="timezone"):
        Deployment.model_validate(deployment(created="2026-11-26T10:00:00"))


@pytest.mark.parametrize("name", ["Upper", "-lead", "trail-", "under_score", "x" * 64, ""])
def test_deployment_names_are_dns_labels(name: str) -> None:
    with pytest.raises(ValidationError):
        Deployment.model_validate(deployment(name=name))


def test_deployment_status_keeps_the_original_spelling() -> None:
    assert [status.value for status in DeploymentStatus] == [
        "Initializing",
        "Deployed",
        "Expiring",
        "Expired",
    ]
    with pytest.raises(ValidationError):
        Deployment.model_validate(deployment(status="Running"))


def test_response_holds_at_most_three() -> None:
    three = [deployment(name=f"d{i}") for i in range(3)]
    assert len(DeployResponse.model_validate({"deployments": three}).deployments) == 3
    with pytest.raises(ValidationError):
        DeployResponse.model_validate({"deployments": [*three, deployment(name="d3")]})
