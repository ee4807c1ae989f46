"""Tunnel pieces that need no privileges: texts, routes, privilege detection, explicit modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.tunnel import TunnelConfig
from tier3.daemon.tunnel import WireGuardTunnels, has_net_admin
from tier3.daemon.wgconf import build_resolv_conf, build_setconf
from tier3.errors import TunnelError
from tier3.keys import KeyPair
from tier3.schema import TunnelMode

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


def _tunnel(**changes: object) -> TunnelConfig:
    values: dict[str, object] = {
        "public_key": KEY,
        "endpoint": "10.250.0.2:51820",
        "allowed_ips": ["10.251.0.1/32"],
        "address": ["10.251.0.2/32"],
    }
    values.update(changes)
    return TunnelConfig.model_validate(values)


def _tunnels(tmp_path: Path, mode: str, namespace: str | None = None) -> WireGuardTunnels:
    return WireGuardTunnels(
        mode=mode,  # type: ignore[arg-type]
        config_dir=tmp_path,
        interface_prefix="sft",
        wireguard_go="no-such-wireguard-go",
        persistent_keepalive=0,
        setup_timeout=5,
        namespace=namespace,
        privileged=lambda: True,
    )


def test_setconf_has_no_wg_quick_keys() -> None:
    text = build_setconf("PRIVATE", _tunnel(dns=["10.0.0.10"]), persistent_keepalive=0)
    assert text == (
        "[Interface]\nPrivateKey = PRIVATE\n\n[Peer]\n"
        f"PublicKey = {KEY}\nAllowedIPs = 10.251.0.1/32\nEndpoint = 10.250.0.2:51820\n"
    )


def test_resolv_conf_only_with_resolvers() -> None:
    assert build_resolv_conf(_tunnel()) is None
    assert build_resolv_conf(_tunnel(dns=["cluster.local"])) is None
    assert build_resolv_conf(_tunnel(dns=["10.0.0.10", "10.0.0.11"])) == (
        "nameserver 10.0.0.10\nnameserver 10.0.0.11\n"
    )


@pytest.mark.parametrize(
    ("allowed", "namespace", "routed"),
    [
        (["10.251.0.1/32", "10.96.0.0/12"], None, ["10.251.0.1/32", "10.96.0.0/12"]),
        # The tunnel's own subnet has a connected route already.
        (["10.251.0.0/24"], None, []),
        # A route covering the endpoint would swallow the tunnel's own packets...
        (["0.0.0.0/0", "10.251.0.1/32"], None, ["10.251.0.1/32"]),
        # ... except in an app namespace, whose packets leave from elsewhere.
        (["0.0.0.0/0"], "app", ["0.0.0.0/0"]),
    ],
)
def test_only_allowed_ips_are_routed(
    tmp_path: Path, allowed: list[str], namespace: str | None, routed: list[str]
) -> None:
    tunnel = _tunnel(allowed_ips=allowed, address=["10.251.0.2/24"])
    assert _tunnels(tmp_path, "auto", namespace)._routed_networks(tunnel) == routed


def test_net_admin_is_read_from_the_effective_capabilities(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapEff:\t000001ffffffffff\n")
    assert has_net_admin(status)
    status.write_text("Name:\tx\nCapEff:\t0000000000000000\n")
    assert not has_net_admin(status)
    assert not has_net_admin(tmp_path / "missing")


async def test_an_explicit_mode_that_cannot_work_is_a_tunnel_error(tmp_path: Path) -> None:
    keypair = KeyPair.generate()
    with pytest.raises(TunnelError, match="no-such-wireguard-go"):
        await _tunnels(tmp_path, TunnelMode.USERSPACE).bring_up(keypair, _tunnel())
    unprivileged = WireGuardTunnels(
        mode=TunnelMode.USERSPACE,
        config_dir=tmp_path,
        interface_prefix="sft",
        wireguard_go="wireguard-go",
        persistent_keepalive=0,
        setup_timeout=5,
        privileged=lambda: False,
    )
    with pytest.raises(TunnelError, match="CAP_NET_ADMIN"):
        await unprivileged.bring_up(keypair, _tunnel())
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - the test's own temporary directory


async def test_auto_mode_without_privileges_writes_the_config(tmp_path: Path) -> None:
    tunnels = WireGuardTunnels(
        mode="auto",
        config_dir=tmp_path / "tunnels",
        interface_prefix="sft",
        wireguard_go="wireguard-go",
        persistent_keepalive=25,
        setup_timeout=5,
        privileged=lambda: False,
    )
    active = await tunnels.bring_up(KeyPair.generate(), _tunnel(dns=["10.0.0.10"]))
    assert active.mode is TunnelMode.CONFIG_ONLY
    assert active.message is not None
    assert "lacks CAP_NET_ADMIN" in active.message
    assert f"sudo wg-quick up {active.config_file}" in active.message
    assert active.config_file is not None
    assert active.config_file.name.startswith("sft")
    assert active.resolv_conf is not None
    assert active.resolv_conf.exists()
    await tunnels.tear_down(active)
    assert not active.config_file.exists()
    assert not active.resolv_conf.exists()
