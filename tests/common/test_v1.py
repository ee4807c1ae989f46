"""The original v1 shapes: an original client's JSON parses, and ours reads like the original's."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from common.deployment import Deployment, DeploymentStatus
from common.tunnel import TunnelConfig
from common.v1 import CloudletDeploymentV1, CloudletInfoV1, TunnelConfigV1

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
CLOUDLET_KEY = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

# What the original ST-2 returned for a deployment (field names and value forms).
ORIGINAL_DEPLOYMENT = {
    "DeploymentName": "helloworld-abcd",
    "UUID": "00000000-0000-0000-0000-000000000000",
    "ApplicationKey": KEY,
    "Status": "Deployed",
    "Created": "2022-07-12T10:11:12-04:00",
    "TunnelConfig": {
        "publicKey": CLOUDLET_KEY,
        "allowedIPs": ["0.0.0.0/0"],
        "endpoint": "128.2.210.1:51820",
        "address": ["10.5.0.2"],
        "dns": ["10.43.0.10", "helloworld-abcd.svc.cluster.local", "svc.cluster.local"],
    },
}


def test_parses_what_the_original_sent() -> None:
    parsed = CloudletDeploymentV1.model_validate(ORIGINAL_DEPLOYMENT)
    assert parsed.uuid == uuid.UUID(int=0)
    assert parsed.status is DeploymentStatus.DEPLOYED
    assert parsed.tunnel_config.endpoint == "128.2.210.1:51820"
    assert [str(a) for a in parsed.tunnel_config.address] == ["10.5.0.2/32"]


def test_serialises_with_the_original_field_names() -> None:
    data = json.loads(CloudletDeploymentV1.model_validate(ORIGINAL_DEPLOYMENT).model_dump_json())
    assert set(data) == {
        "DeploymentName",
        "UUID",
        "ApplicationKey",
        "Status",
        "Created",
        "Expires",
        "TunnelConfig",
    }
    assert set(data["TunnelConfig"]) == {"publicKey", "allowedIPs", "endpoint", "address", "dns"}
    assert data["Status"] == "Deployed"


def test_native_deployment_converts_to_v1() -> None:
    native = Deployment(
        cloudlet=uuid.UUID(int=9),  # type: ignore[arg-type]
        app=uuid.UUID(int=0),  # type: ignore[arg-type]
        client_public_key=KEY,
        name="helloworld-abcd",
        status=DeploymentStatus.INITIALIZING,
        created=datetime(2026, 11, 26, tzinfo=UTC),
        tunnel=TunnelConfig.model_validate(
            {
                "public_key": CLOUDLET_KEY,
                "endpoint": "[2001:db8::1]:51820",
                "allowed_ips": ["10.43.0.0/16"],
                "address": ["10.5.0.9/32"],
            }
        ),
    )
    v1 = CloudletDeploymentV1.from_native(native)
    data = v1.model_dump(mode="json")
    assert data["UUID"] == str(uuid.UUID(int=0))
    assert data["Status"] == "Initializing"
    assert data["DeploymentName"] == "helloworld-abcd"
    assert data["TunnelConfig"]["endpoint"] == "[2001:db8::1]:51820"
    assert v1.tunnel_config.to_native() == native.tunnel


def test_urlsafe_unpadded_keys_are_accepted_in_v1_bodies() -> None:
    body = dict(ORIGINAL_DEPLOYMENT, ApplicationKey=KEY.rstrip("=").replace("+", "-"))
    assert CloudletDeploymentV1.model_validate(body).application_key == KEY


@pytest.mark.parametrize(
    "mutation",
    [
        {"UUID": "nope"},
        {"Status": "Running"},
        {"ApplicationKey": "x"},
        {"TunnelConfig": {"publicKey": CLOUDLET_KEY}},
    ],
)
def test_rejects_malformed_v1_deployments(mutation: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CloudletDeploymentV1.model_validate(dict(ORIGINAL_DEPLOYMENT, **mutation))


def test_cloudlet_info_takes_location_pairs_and_gives_them_back() -> None:
    info = CloudletInfoV1.model_validate(
        {
            "uuid": str(uuid.UUID(int=3)),
            "endpoint": "http://cloudlet.example.org:5000/api/v1/deploy",
            "locations": [[40.44, -79.94]],
            "local_networks": ["128.2.0.0/16"],
            "accepted_clients": ["0.0.0.0/0"],
            "rejected_clients": [],
            "resources": {"cpu_ratio": 0.25, "mem_ratio": 0.5},
            "last_update": "2022-07-12T10:11:12+00:00",
        }
    )
    data = info.model_dump(mode="json", exclude_none=True)
    assert data["locations"] == [[40.44, -79.94]]
    assert data["resources"] == {"cpu_ratio": 0.25, "mem_ratio": 0.5}
    assert data["local_networks"] == ["128.2.0.0/16"]


def test_cloudlet_info_requires_an_endpoint() -> None:
    with pytest.raises(ValidationError, match="endpoint"):
        CloudletInfoV1.model_validate({"locations": [[0, 0]]})


def test_tunnel_config_v1_round_trip_is_lossless() -> None:
    v1 = TunnelConfigV1.model_validate(ORIGINAL_DEPLOYMENT["TunnelConfig"])
    assert TunnelConfigV1.from_native(v1.to_native()) == v1
