"""Registration with ST-1s, against the stand-in ST-1 over real HTTP (ST-1 lands separately)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.harness.processes import free_port
from tests.tier2.conftest import LOCAL_APP, SettingsFactory, eventually, local_recipe, write_recipes
from tests.tier2.servers import serve_in_thread
from tests.tier2.standin_tier1 import StandInTier1
from tier2.app import create_app
from tier2.identity import load_identity
from tier2.runtime import Runtime

OUTSIDE = ("192.0.2.9", 40000)
FAST = {"backoff_initial": 0.05, "backoff_max": 0.2, "ready_poll_interval": 0.1}


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def test_registers_keeps_alive_and_deregisters(
    make_settings: SettingsFactory,
    standin_tier1: tuple[StandInTier1, str],
    tmp_path: Path,
) -> None:
    standin, url = standin_tier1
    standin.keepalive_interval = 0.1  # ST-1 negotiates a shorter interval than asked
    settings = make_settings(
        tier1=[{"url": url, "keepalive_interval": 30.0}],
        registration=FAST,
        recipes_dir=write_recipes(tmp_path / "recipes", local_recipe()),
        metrics={"interval": 0.1},
    )
    identity = load_identity(settings.state_dir)
    with TestClient(create_app(settings), client=OUTSIDE) as client:
        assert eventually(lambda: standin.row(identity.uuid) is not None)
        row = standin.row(identity.uuid)
        assert row is not None
        sent = row.request
        assert sent.cloudlet.uuid == identity.uuid
        assert sent.cloudlet.public_key == identity.public_key
        assert str(sent.cloudlet.endpoint).rstrip("/") == "http://127.0.0.1:5001"
        assert sent.cloudlet.name == "test-cloudlet"
        assert sent.cloudlet.hardware.cpu_cores > 0
        assert sent.keepalive_interval == 30.0
        assert sent.deploy_credential is not None
        assert len(sent.deploy_credential) >= 16

        # Keepalives follow at the negotiated interval and carry what is known of the load.
        assert eventually(lambda: len(row.keepalives) >= 3, seconds=5)
        assert eventually(lambda: row.keepalives[-1].metrics.cpu_utilization is not None)
        latest = row.keepalives[-1].metrics
        assert latest.memory_utilization is not None
        assert latest.tier1_rtt_seconds is not None
        assert latest.gpu_utilization is None  # unknown, not zero

        # ST-1 asks us to deploy with the credential we gave it.
        headers = {"Authorization": f"Bearer {sent.deploy_credential}"}
        body = {"app": str(LOCAL_APP), "client_public_key": identity.public_key}
        response = client.post("/api/v2/deployments", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert eventually(lambda: row.keepalives[-1].metrics.backends == [LOCAL_APP])

        # ST-1 forgets the row: the next keepalive gets a 404 and ST-2 registers again.
        standin.forget(identity.uuid)
        assert eventually(lambda: standin.row(identity.uuid) is not None, seconds=5)
        assert len(standin.registrations) == 2
        assert standin.registrations[1].deploy_credential == sent.deploy_credential
    assert standin.deregistered == [identity.uuid]


def test_each_tier1_has_its_own_session_and_credentials(
    make_settings: SettingsFactory, standin_tier1: tuple[StandInTier1, str], tmp_path: Path
) -> None:
    first, first_url = standin_tier1
    second = StandInTier1(keepalive_interval=0.2)
    with serve_in_thread(second.build_app()) as second_url:
        settings = make_settings(
            tier1=[
                {"url": first_url, "keepalive_interval": 0.1},
                {"url": second_url, "keepalive_interval": 5.0},
            ],
            registration=FAST,
            recipes_dir=write_recipes(tmp_path / "recipes", local_recipe()),
        )
        identity = load_identity(settings.state_dir)
        with TestClient(create_app(settings), client=OUTSIDE) as client:
            assert eventually(
                lambda: (
                    first.row(identity.uuid) is not None and second.row(identity.uuid) is not None
                )
            )
            one, two = first.row(identity.uuid), second.row(identity.uuid)
            assert one is not None
            assert two is not None
            assert one.credential != two.credential
            assert one.request.deploy_credential != two.request.deploy_credential
            sessions = _runtime(client).registrations.sessions
            assert [s.registration.keepalive_interval for s in sessions if s.registration] == [
                0.1,
                0.2,
            ]
            # The first ST-1 going down does not disturb the second.
            first.unavailable = True
            count = len(two.keepalives)
            assert eventually(lambda: len(two.keepalives) >= count + 2, seconds=5)
            for credential in (one.request.deploy_credential, two.request.deploy_credential):
                response = client.post(
                    "/api/v2/deployments",
                    json={"app": str(LOCAL_APP), "client_public_key": identity.public_key},
                    headers={"Authorization": f"Bearer {credential}"},
                )
                assert response.status_code in (200, 201), response.text
            first.unavailable = False


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_refusal_is_not_retried_in_a_tight_loop(
    make_settings: SettingsFactory, standin_tier1: tuple[StandInTier1, str], token: str | None
) -> None:
    standin, url = standin_tier1
    standin.registration_token = "the-right-token"
    settings = make_settings(
        tier1=[{"url": url, "registration_token": token}],
        registration={**FAST, "backoff_max": 30.0},
    )
    identity = load_identity(settings.state_dir)
    with TestClient(create_app(settings), client=OUTSIDE) as client:
        session = _runtime(client).registrations.sessions[0]
        assert eventually(lambda: session.last_outcome is not None)
        assert session.last_outcome is not None
        assert session.last_outcome.value == "refused"
        assert not eventually(lambda: standin.attempts > 1, seconds=1.0)
        assert standin.row(identity.uuid) is None
        metrics = client.get("/metrics").text
        assert 'sinfonia_tier2_keepalives_total{kind="register",result="refused"} 1.0' in metrics


def test_a_uuid_taken_by_another_key_is_a_refusal(
    make_settings: SettingsFactory, standin_tier1: tuple[StandInTier1, str], tmp_path: Path
) -> None:
    standin, url = standin_tier1
    settings = make_settings(tier1=[{"url": url}], registration=FAST)
    identity = load_identity(settings.state_dir)
    # Another cloudlet (another key) registered this UUID first.
    impostor = make_settings(tier1=[{"url": url}], registration=FAST, state_dir=tmp_path / "other")
    impostor.state_dir.mkdir(mode=0o700)
    (impostor.state_dir / "cloudlet-uuid").write_text(str(identity.uuid))
    with TestClient(create_app(impostor), client=OUTSIDE):
        assert eventually(lambda: standin.row(identity.uuid) is not None)
        with TestClient(create_app(settings), client=OUTSIDE) as client:
            session = _runtime(client).registrations.sessions[0]
            assert eventually(lambda: session.last_outcome is not None)
            assert session.last_outcome is not None
            assert session.last_outcome.value == "refused"
            assert session.registration is None
        row = standin.row(identity.uuid)
        assert row is not None
        assert row.request.cloudlet.public_key != identity.public_key


def test_no_registration_before_the_cluster_is_ready(
    make_settings: SettingsFactory, standin_tier1: tuple[StandInTier1, str], tmp_path: Path
) -> None:
    standin, url = standin_tier1
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{free_port()}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    settings = make_settings(
        tier1=[{"url": url}],
        registration=FAST,
        driver="kubernetes",
        kubernetes={"kubeconfig": kubeconfig, "attempts": 1, "connect_timeout": 0.5},
        trusted_tier1_networks=["192.0.2.0/24"],
    )
    with TestClient(create_app(settings), client=OUTSIDE) as client:
        session = _runtime(client).registrations.sessions[0]
        assert eventually(lambda: session.last_outcome is not None)
        assert session.last_outcome is not None
        assert session.last_outcome.value == "not-ready"
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "cluster" in ready.json()["detail"]
        assert standin.registrations == []
        # Until its deployments are read back, ST-2 takes no deploy: it could duplicate one.
        body = {
            "app": str(LOCAL_APP),
            "client_public_key": load_identity(settings.state_dir).public_key,
        }
        refused = client.post("/api/v2/deployments", json=body)
        assert refused.status_code == 503
        assert refused.json()["retryable"] is True
