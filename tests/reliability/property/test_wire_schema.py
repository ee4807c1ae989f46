"""The wire schema: every message survives a trip through JSON, and every validator refuses
what it should (and refuses it with a validation error, never a crash)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from common.cloudlet import CloudletStatic, Keepalive, RegistrationRequest
from common.deployment import Deployment, DeployRequest
from common.errors import SinfoniaError, error_from_problem
from common.geo import GeoLocation
from common.keys import parse_wireguard_key, urlsafe_key
from common.problem import Problem
from common.types import WIREGUARD_KEY_PATTERN, IPNet
from common.v1 import CloudletDeploymentV1
from tests.reliability.property.strategies import (
    PROPERTY,
    cloudlet_statics,
    dns_labels,
    encoded_key,
    ip_addresses,
    ip_networks,
    key_bytes,
    locations,
    metrics,
    ports,
    wireguard_keys,
)

NETWORK: TypeAdapter[Any] = TypeAdapter(IPNet)


def round_trip(model: BaseModel) -> BaseModel:
    return type(model).model_validate_json(model.model_dump_json())


# -- keys ------------------------------------------------------------------------------------


@PROPERTY
@given(raw=key_bytes, urlsafe=st.booleans(), padded=st.booleans())
def test_every_encoding_of_a_key_parses_to_one_canonical_key(
    raw: bytes, urlsafe: bool, padded: bool
) -> None:
    canonical = parse_wireguard_key(encoded_key(raw, urlsafe=False, padded=True))
    assert parse_wireguard_key(encoded_key(raw, urlsafe=urlsafe, padded=padded)) == canonical
    assert parse_wireguard_key(urlsafe_key(canonical)) == canonical
    assert re.fullmatch(WIREGUARD_KEY_PATTERN, encoded_key(raw, urlsafe=urlsafe, padded=padded))


@PROPERTY
@given(text=st.text(max_size=60) | st.from_regex(r"[A-Za-z0-9+/_-]{40,46}=?", fullmatch=True))
def test_a_key_is_accepted_exactly_when_the_documented_pattern_says_so(text: str) -> None:
    try:
        canonical = parse_wireguard_key(text)
    except ValueError:
        # The only text the pattern admits and the parser refuses: the all-zero key.
        if re.fullmatch(WIREGUARD_KEY_PATTERN, text):
            assert text.rstrip("=").strip("A") == ""
        return
    assert re.fullmatch(WIREGUARD_KEY_PATTERN, text)
    assert len(canonical) == 44
    assert canonical.endswith("=")


# -- networks, places, numbers ---------------------------------------------------------------


@PROPERTY
@given(network=ip_networks)
def test_networks_round_trip_and_host_bits_are_refused(network: Any) -> None:
    assert NETWORK.validate_python(str(network)) == network
    if network.prefixlen < network.max_prefixlen:
        with_host = f"{network.network_address + 1}/{network.prefixlen}"
        with pytest.raises(ValidationError, match="host bits"):
            NETWORK.validate_python(with_host)


@PROPERTY
@given(
    latitude=st.floats(allow_nan=True, allow_infinity=True),
    longitude=st.floats(allow_nan=True, allow_infinity=True),
)
def test_locations_outside_the_globe_are_refused(latitude: float, longitude: float) -> None:
    valid = -90 <= latitude <= 90 and -180 <= longitude <= 180
    try:
        location = GeoLocation.model_validate([latitude, longitude])
    except ValidationError:
        assert not valid
        return
    assert valid
    assert GeoLocation.from_header(f"{latitude!r},{longitude!r}") == location


@PROPERTY
@given(
    cpu=st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=5)
    | st.none()
)
def test_a_utilization_is_a_number_between_0_and_1_or_unknown(cpu: Any) -> None:
    valid = cpu is None or (
        isinstance(cpu, float) and not isinstance(cpu, bool) and 0.0 <= cpu <= 1.0
    )
    try:
        keepalive = Keepalive.model_validate({"metrics": {"cpu_utilization": cpu}})
    except ValidationError:
        assert not valid
        return
    assert valid
    assert keepalive.metrics.cpu_utilization == cpu


@PROPERTY
@given(results=st.integers(-5, 10) | st.booleans() | st.sampled_from(["1", "2", 2.0, 2.5, None]))
def test_a_device_asks_for_one_to_three_results(results: Any) -> None:
    body = {
        "app": str(uuid.uuid4()),
        "client_public_key": "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
    }
    valid = (
        isinstance(results, int | float)
        and not isinstance(results, bool)
        and float(results).is_integer()
        and 1 <= results <= 3
    )
    try:
        request = DeployRequest.model_validate({**body, "results": results})
    except ValidationError:
        assert not valid
        return
    assert valid
    assert request.results == results


# -- whole messages --------------------------------------------------------------------------


@PROPERTY
@given(static=cloudlet_statics(), live=metrics(), interval=st.floats(0.01, 3600))
def test_registrations_round_trip(
    static: dict[str, Any], live: dict[str, Any], interval: float
) -> None:
    request = RegistrationRequest.model_validate(
        {"cloudlet": static, "metrics": live, "keepalive_interval": interval}
    )
    assert round_trip(request) == request
    assert str(request.cloudlet.uuid) == static["uuid"]
    assert [str(n) for n in request.cloudlet.rejected_clients] == static["rejected_clients"]


@PROPERTY
@given(
    key=wireguard_keys,
    gateway=wireguard_keys,
    name=dns_labels,
    port=ports,
    allowed=st.lists(ip_networks, min_size=1, max_size=4),
    address=ip_addresses,
    where=st.none() | locations,
)
def test_deployments_round_trip_natively_and_through_v1(
    key: str,
    gateway: str,
    name: str,
    port: int,
    allowed: list[Any],
    address: Any,
    where: Any,
) -> None:
    prefix = 32 if address.version == 4 else 128
    deployment = Deployment.model_validate(
        {
            "cloudlet": str(uuid.uuid4()),
            "app": str(uuid.uuid4()),
            "client_public_key": key,
            "name": name,
            "status": "Deployed",
            "created": datetime.now(UTC).isoformat(),
            "tunnel": {
                "public_key": gateway,
                "endpoint": f"edge.example:{port}",
                "allowed_ips": [str(n) for n in allowed],
                "address": [f"{address}/{prefix}"],
            },
        }
    )
    assert round_trip(deployment) == deployment
    v1 = CloudletDeploymentV1.from_native(deployment)
    again = CloudletDeploymentV1.model_validate_json(v1.model_dump_json())
    assert again.tunnel_config.to_native() == deployment.tunnel
    assert again.application_key == key


def _every_error_class(cls: type[SinfoniaError] = SinfoniaError) -> list[type[SinfoniaError]]:
    """The tree in `common.errors` (tiers add their own classes, unknown to other tiers)."""
    found = [cls] if cls.__module__ == "common.errors" else []
    for sub in cls.__subclasses__():
        found += _every_error_class(sub)
    return found


@PROPERTY
@given(cls=st.sampled_from(_every_error_class()), detail=st.text(max_size=200))
def test_problems_round_trip_to_the_same_error(cls: type[SinfoniaError], detail: str) -> None:
    assume(cls.__init__ is SinfoniaError.__init__ or cls.__name__ in {"TooManyRequestsError"})
    error = cls(detail or None)
    problem = Problem.model_validate_json(error.to_problem(instance="/x").model_dump_json())
    rebuilt = error_from_problem(problem)
    assert type(rebuilt) is cls
    assert problem.status == cls.status
    assert 400 <= problem.status <= 599


@PROPERTY
@given(peer=ip_addresses)
def test_cloudlet_statics_refuse_credentials_in_the_endpoint(peer: Any) -> None:
    host = f"[{peer}]" if isinstance(peer, ipaddress.IPv6Address) else str(peer)
    body = {
        "uuid": str(uuid.uuid4()),
        "name": "edge",
        "endpoint": f"http://user:secret@{host}:5001/",
        "public_key": "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
    }
    with pytest.raises(ValidationError, match="credentials"):
        CloudletStatic.model_validate(body)
