"""ST-3 settings: loopback only, nested sections from the environment, typos fail at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tier3.schema import Strategy, Tier1Api, TunnelMode
from tier3.settings import Tier3Settings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    assert Tier3Settings(host=host).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.org"])
def test_the_daemon_never_binds_beyond_loopback(host: str) -> None:
    with pytest.raises(ValidationError, match="loopback"):
        Tier3Settings(host=host)


def test_nested_sections_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SINFONIA_TIER3_TIER1__URL", "https://tier1.example.org")
    monkeypatch.setenv("SINFONIA_TIER3_TIER1__API", "v1")
    monkeypatch.setenv("SINFONIA_TIER3_CHOICE__STRATEGY", "probe")
    monkeypatch.setenv("SINFONIA_TIER3_DISCOVERY__INTERFACES", '["wlan0"]')
    monkeypatch.setenv("SINFONIA_TIER3_TUNNEL__MODE", "config-only")
    monkeypatch.setenv("SINFONIA_TIER3_DEVICE__LOCATION", '"40.44,-79.94"')
    config = tmp_path / "tier3.yaml"
    config.write_text("tier1:\n  results: 2\ncache_dir: /var/cache/sinfonia\n")
    settings = Tier3Settings.load(config, port=6000)
    assert str(settings.tier1.url) == "https://tier1.example.org/"
    assert settings.tier1.api is Tier1Api.V1
    assert settings.tier1.results == 2
    assert settings.choice.strategy is Strategy.PROBE
    assert settings.discovery.interfaces == ["wlan0"]
    assert settings.tunnel.mode is TunnelMode.CONFIG_ONLY
    assert settings.device.location is not None
    assert settings.device.location.as_pair() == (40.44, -79.94)
    assert settings.port == 6000
    assert settings.tunnel_config_dir() == Path("/var/cache/sinfonia/tunnels")


@pytest.mark.parametrize(
    "values",
    [
        {"tier1": {"resluts": 2}},
        {"tunnel": {"mode": "kernal"}},
        {"tunnel": {"interface_prefix": "much-too-long"}},
        {"discovery": {"browse_timeout": 60}},
        {"choice": {"strategy": "fastest"}},
    ],
)
def test_typos_and_bad_values_fail_at_start(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Tier3Settings.model_validate(values)
