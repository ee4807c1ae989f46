"""Unit test: wg-quick style configs are split into ip(8) settings and ``wg setconf`` input."""

from __future__ import annotations

import pytest

from tests.harness.netns import WireGuardConfig

KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
PEER = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="


def test_wg_quick_keys_are_taken_out_and_routes_derived() -> None:
    parsed = WireGuardConfig.parse(
        f"""
[Interface]
PrivateKey = {KEY}
Address = 10.251.0.2/24, 10.251.1.2/24  # two addresses
ListenPort = 51821
MTU = 1380
DNS = 10.251.0.1

[Peer]
PublicKey = {PEER}
AllowedIPs = 10.251.0.0/24, 10.96.0.0/16
Endpoint = 10.250.0.2:51820
"""
    )
    assert parsed.addresses == ("10.251.0.2/24", "10.251.1.2/24")
    assert parsed.listen_port == 51821
    assert parsed.mtu == 1380
    assert parsed.routes == ("10.96.0.0/16",)  # 10.251.0.0/24 is already on-link
    assert parsed.setconf.splitlines() == [
        "[Interface]",
        f"PrivateKey = {KEY}",
        "ListenPort = 51821",
        "[Peer]",
        f"PublicKey = {PEER}",
        "AllowedIPs = 10.251.0.0/24, 10.96.0.0/16",
        "Endpoint = 10.250.0.2:51820",
    ]


def test_table_off_adds_no_routes() -> None:
    text = f"[Interface]\nPrivateKey = {KEY}\nAddress = 10.251.0.2/32\nTable = off\n"
    text += f"[Peer]\nPublicKey = {PEER}\nAllowedIPs = 0.0.0.0/0\n"
    assert WireGuardConfig.parse(text).routes == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"[Interface]\nPrivateKey = {KEY}\n", "no Address"),
        (
            f"[Interface]\nAddress = 10.251.0.2/24\nPostUp = iptables -F\nPrivateKey = {KEY}\n",
            "hooks",
        ),
        ("[Interface]\nAddress\n", "key = value"),
    ],
    ids=["no-address", "hook", "no-equals"],
)
def test_rejected_configs(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WireGuardConfig.parse(text)
