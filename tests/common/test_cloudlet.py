"""Cloudlet messages: registration, keepalive, defaults and rejects."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from common.cloudlet import (
    CloudletMetrics,
    CloudletStatic,
    Hardware,
    Keepalive,
    RegistrationRequest,
    RegistrationResponse,
)

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


def static(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": str(uuid.UUID(int=1)),
        "name": "cmu-edge-1",
        "endpoint": "https://cloudlet.example.org/api/v1/",
        "public_key": KEY,
    }
    body.update(overrides)
    return body


def test_minimal_registration_gets_sane_defaults() -> None:
    request = RegistrationRequest.model_validate_json(
        RegistrationRequest.model_validate({"cloudlet": static()}).model_dump_json()
    )
    cloudlet = request.cloudlet
    assert cloudlet.uuid == uuid.UUID(int=1)
    assert cloudlet.accepted_clients == [
        ipaddress.ip_network("0.0.0.0/0"),
        ipaddress.ip_network("::/0"),
    ]
    assert cloudlet.rejected_clients == []
    assert cloudlet.hardware == Hardware()
    assert request.keepalive_interval == 10.0
    assert request.metrics.cpu_utilization is None


def test_full_registration_round_trips_through_json() -> None:
    body = {
        "cloudlet": static(
            owner="CMU",
            locations=[[40.44, -79.94], {"latitude": 40.0, "longitude": -80.0}],
            local_networks=["128.2.0.0/16", "2001:db8::/32"],
            rejected_clients=["10.0.0.0/8"],
            hardware={
                "cpu_cores": 64,
                "memory_bytes": 256 * 2**30,
                "gpus": [{"model": "A100", "count": 2}],
            },
        ),
        "keepalive_interval": 5,
        "registration_token": "s3cret",
    }
    request = RegistrationRequest.model_validate(body)
    again = RegistrationRequest.model_validate_json(request.model_dump_json())
    assert again == request
    assert request.cloudlet.hardware.gpu_count == 2
    assert request.cloudlet.locations[0].latitude == 40.44


def test_unknown_fields_from_newer_peers_are_ignored() -> None:
    request = RegistrationRequest.model_validate(
        {"cloudlet": static(quantum_cores=4), "future_field": {"a": 1}}
    )
    assert not hasattr(request.cloudlet, "quantum_cores")


@pytest.mark.parametrize(
    "override",
    [
        {"uuid": "not-a-uuid"},
        {"endpoint": "ftp://cloudlet.example.org/"},
        {"endpoint": "https://user:pw@cloudlet.example.org/"},
        {"public_key": "short"},
        {"name": ""},
        {"locations": [[95.0, 0.0]]},
        {"local_networks": ["10.0.0.1/8"]},
        {"accepted_clients": ["not-a-net"]},
        {"hardware": {"cpu_cores": -1}},
        {"hardware": {"gpus": [{"model": "A100", "count": 0}]}},
    ],
)
def test_bad_static_attributes_are_rejected(override: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CloudletStatic.model_validate(static(**override))


def test_too_many_networks_are_rejected() -> None:
    networks = [f"10.{i // 256}.{i % 256}.0/24" for i in range(257)]
    with pytest.raises(ValidationError, match="at most 256"):
        CloudletStatic.model_validate(static(local_networks=networks))


@pytest.mark.parametrize("interval", [0, -1, 3601, "soon"])
def test_keepalive_interval_must_be_positive_and_bounded(interval: object) -> None:
    with pytest.raises(ValidationError):
        RegistrationRequest.model_validate({"cloudlet": static(), "keepalive_interval": interval})


def test_metrics_unknown_is_not_zero() -> None:
    metrics = CloudletMetrics.model_validate({"cpu_utilization": 0.0})
    assert metrics.cpu_utilization == 0.0
    assert metrics.memory_utilization is None


@pytest.mark.parametrize(
    "metrics",
    [
        {"cpu_utilization": 1.5},
        {"gpu_utilization": -0.1},
        {"network_rx_bytes_per_second": -1},
        {"backends": ["nope"]},
    ],
)
def test_metrics_reject_impossible_values(metrics: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Keepalive.model_validate({"metrics": metrics})


def test_registration_response_requires_a_long_enough_credential() -> None:
    base = {"uuid": str(uuid.uuid4()), "keepalive_interval": 5, "ttl": 30, "trust_level": 50}
    assert RegistrationResponse.model_validate({**base, "credential": "x" * 32}).ttl == 30
    with pytest.raises(ValidationError):
        RegistrationResponse.model_validate({**base, "credential": "short"})
    with pytest.raises(ValidationError):
        RegistrationResponse.model_validate({**base, "credential": "x" * 32, "trust_level": 101})


def test_messages_are_immutable() -> None:
    metrics = CloudletMetrics(cpu_utilization=0.5)
    with pytest.raises(ValidationError):
        metrics.cpu_utilization = 0.9  # type: ignore[misc]
