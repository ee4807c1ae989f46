"""ST-2's settings and command line: file, environment and flags, and loud failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from common import __version__
from tier2.cli import cli, settings_from_flags
from tier2.identity import load_identity
from tier2.settings import DriverKind, Tier2Settings, TunnelMode


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tier2.yaml"
    path.write_text(
        "api_url: http://cloudlet.example.org:5001\n"
        "driver: kubernetes\n"
        "kubernetes: {ready_timeout: 7, namespace_prefix: edge-}\n"
        "tier1: [{url: 'https://one.example.org', keepalive_interval: 20}]\n"
        "cloudlet: {name: edge-1, locations: [[40.44, -79.94]], local_networks: [10.0.0.0/8]}\n"
    )
    return path


def test_flags_merge_into_the_file_sections(config_file: Path, tmp_path: Path) -> None:
    settings = settings_from_flags(
        config_file,
        kubeconfig=tmp_path / "kubeconfig",
        zeroconf=True,
        zeroconf_interfaces=["eth1"],
        tunnel_mode=TunnelMode.MANAGED,
        port=6001,
    )
    assert settings.driver is DriverKind.KUBERNETES
    assert settings.kubernetes.ready_timeout == 7.0  # kept from the file
    assert settings.kubernetes.namespace_prefix == "edge-"
    assert settings.kubernetes.kubeconfig == tmp_path / "kubeconfig"  # added by the flag
    assert settings.zeroconf.enabled
    assert settings.zeroconf.interfaces == ["eth1"]
    assert settings.port == 6001
    assert settings.cloudlet.locations[0].latitude == 40.44
    assert [str(p.url) for p in settings.tier1] == ["https://one.example.org/"]
    replaced = settings_from_flags(config_file, tier1=["https://two.example.org"])
    assert [str(p.url) for p in replaced.tier1] == ["https://two.example.org/"]


def test_nested_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINFONIA_TIER2_KUBERNETES__READY_TIMEOUT", "42")
    monkeypatch.setenv("SINFONIA_TIER2_TUNNEL__CLIENT_POOL", "10.99.0.0/16")
    settings = Tier2Settings()
    assert settings.kubernetes.ready_timeout == 42.0
    assert str(settings.tunnel.client_pool) == "10.99.0.0/16"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("kubernetes: {readytimeout: 3}\n", "readytimeout"),
        ("zeroconf: {enabled: true}\n", "explicit interfaces"),
        ("tunnel: {client_pool: 10.0.0.0/31}\n", "client_pool"),
        ("tunnel: {client_pool: 10.0.0.1/24}\n", "host bits"),
        ("tier1: [{url: 'not a url'}]\n", "url"),
    ],
)
def test_typos_and_bad_values_fail_at_start(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=where):
        settings_from_flags(path)


def test_advertised_addresses() -> None:
    settings = Tier2Settings(host="192.0.2.10", port=5001)
    assert settings.advertised_url() == "http://192.0.2.10:5001"
    assert settings.tunnel_endpoint() == "192.0.2.10:51820"
    with pytest.raises(ValueError, match="api_url"):
        Tier2Settings(host="0.0.0.0").advertised_url()
    explicit = Tier2Settings.model_validate(
        {"api_url": "https://edge.example.org", "tunnel": {"endpoint": "gw:4500"}}
    )
    assert explicit.advertised_url() == "https://edge.example.org"
    assert explicit.tunnel_endpoint() == "gw:4500"


def test_cli_version_help_and_identity(tmp_path: Path) -> None:
    runner = CliRunner()
    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0
    assert __version__ in version.output
    help_text = runner.invoke(cli, ["serve", "--help"]).output
    for option in ("--tier1", "--zeroconf", "--jit", "--kubeconfig", "--tunnel-mode"):
        assert option in help_text
    shown = runner.invoke(cli, ["identity", "--state-dir", str(tmp_path / "state")])
    assert shown.exit_code == 0, shown.output
    identity = load_identity(tmp_path / "state")
    assert shown.output == f"uuid: {identity.uuid}\npublic_key: {identity.public_key}\n"
