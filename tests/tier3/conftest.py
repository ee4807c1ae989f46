"""ST-3 test fixtures: stand-in ST-1 and ST-2s on loopback, settings for a config-only daemon."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import AnyHttpUrl

from tests.harness.processes import free_port
from tests.tier3.standins import (
    Recorder,
    Tier1Config,
    Tier2Config,
    build_tier1,
    build_tier2,
    serve_in_thread,
)
from tier3.schema import TunnelMode
from tier3.settings import (
    ChoiceSettings,
    Tier1Settings,
    Tier3Settings,
    TunnelSettings,
)


@dataclass
class StandinCloudlet:
    config: Tier2Config
    recorder: Recorder

    @property
    def url(self) -> str:
        return self.config.api_url


@dataclass
class StandinTier1:
    config: Tier1Config
    recorder: Recorder
    url: str


@dataclass
class Standins:
    """Three ST-2 stand-ins and an ST-1 stand-in forwarding to them, all on loopback."""

    tier1: StandinTier1
    cloudlets: list[StandinCloudlet]

    def reset(self) -> None:
        self.tier1.config.tier2_urls = [cloudlet.url for cloudlet in self.cloudlets]
        self.tier1.config.problem = None
        for recorder in (self.tier1.recorder, *(c.recorder for c in self.cloudlets)):
            with recorder.lock:
                recorder.entries.clear()
        for cloudlet in self.cloudlets:
            cloudlet.config.deploy_delay = 0.0
            cloudlet.config.healthz_delay = 0.0


@pytest.fixture(scope="session")
def session_standins() -> Iterator[Standins]:
    """Started once: uvicorn threads are cheap to keep and each test uses a fresh app UUID."""
    with contextlib.ExitStack() as stack:
        cloudlets: list[StandinCloudlet] = []
        for index in range(1, 4):
            port = free_port()
            config = Tier2Config(
                cloudlet=uuid.uuid4(),
                name=f"cloudlet{index}",
                api_url=f"http://127.0.0.1:{port}",
                wg_endpoint=f"192.0.2.{index}:51820",
                client_address=f"10.251.0.{index * 16 + 2}/32",
                allowed_ips=(f"10.251.0.{index * 16 + 1}/32",),
                services=(("web", f"10.251.0.{index * 16 + 1}", 8080),),
                dns=(f"10.251.0.{index * 16 + 1}", "svc.example"),
            )
            recorder = Recorder()
            stack.enter_context(serve_in_thread(build_tier2(config, recorder), port=port))
            cloudlets.append(StandinCloudlet(config, recorder))
        tier1_config = Tier1Config(tier2_urls=[c.url for c in cloudlets])
        tier1_recorder = Recorder()
        url = stack.enter_context(serve_in_thread(build_tier1(tier1_config, tier1_recorder)))
        yield Standins(StandinTier1(tier1_config, tier1_recorder, url), cloudlets)


@pytest.fixture
def standins(session_standins: Standins) -> Standins:
    session_standins.reset()
    return session_standins


@pytest.fixture
def app_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def settings(tmp_path: Path, standins: Standins) -> Tier3Settings:
    """A daemon that asks the stand-in ST-1 and writes config-only tunnels under tmp_path."""
    return Tier3Settings(
        cache_dir=tmp_path / "cache",
        tier1=Tier1Settings(
            url=AnyHttpUrl(standins.tier1.url), connect_attempts=1, release_timeout=2.0
        ),
        choice=ChoiceSettings(),
        tunnel=TunnelSettings(mode=TunnelMode.CONFIG_ONLY, config_dir=tmp_path / "tunnels"),
        shutdown_timeout=5.0,
    )
