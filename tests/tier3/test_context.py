"""Device context: network type from the default route, location providers, hardware."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.device import NetworkType
from common.geo import GeoLocation
from tier3.context import (
    DeviceContextSource,
    FileLocation,
    FixedLocation,
    detect_network_type,
    load_hardware,
)

ROUTE_HEADER = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"


def _sysfs(tmp_path: Path, default: str | None, kinds: dict[str, str]) -> tuple[Path, Path]:
    route = tmp_path / "route"
    lines = [ROUTE_HEADER, "eth9\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"]
    if default is not None:
        lines.append(f"{default}\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n")
    route.write_text("".join(lines))
    sys_net = tmp_path / "net"
    for name, kind in kinds.items():
        (sys_net / name).mkdir(parents=True)
        if kind == "wifi":
            (sys_net / name / "wireless").mkdir()
        if kind in {"wifi", "ethernet"}:
            (sys_net / name / "device").mkdir()
    return route, sys_net


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        ("wlan0", NetworkType.WIFI),
        ("eno1", NetworkType.ETHERNET),
        ("wwan0", NetworkType.CELLULAR),
        ("veth7", NetworkType.UNKNOWN),
        (None, NetworkType.UNKNOWN),
    ],
)
def test_network_type_follows_the_default_route(
    tmp_path: Path, default: str | None, expected: NetworkType
) -> None:
    route, sys_net = _sysfs(
        tmp_path, default, {"wlan0": "wifi", "eno1": "ethernet", "wwan0": "", "veth7": ""}
    )
    assert detect_network_type(route, sys_net) is expected


def test_network_type_is_unknown_without_proc(tmp_path: Path) -> None:
    assert detect_network_type(tmp_path / "missing", tmp_path) is NetworkType.UNKNOWN


def test_file_location_reads_what_a_provider_writes(tmp_path: Path) -> None:
    path = tmp_path / "location"
    provider = FileLocation(path)
    assert provider.get_location() is None
    path.write_text("40.4433, -79.9436\n")
    assert provider.get_location() == GeoLocation(latitude=40.4433, longitude=-79.9436)
    path.write_text("somewhere")
    assert provider.get_location() is None
    path.write_text("91,0")
    assert provider.get_location() is None


def test_context_carries_configured_values_and_real_hardware() -> None:
    where = GeoLocation(latitude=1.5, longitude=2.5)
    source = DeviceContextSource(location=FixedLocation(where), network=NetworkType.LTE)
    context = source.get_context()
    assert context.location == where
    assert context.network is NetworkType.LTE
    assert context.address is None  # ST-1 sees the public address itself
    hardware = load_hardware()
    assert context.hardware == hardware
    assert hardware.cpu_cores is not None
    assert hardware.cpu_cores >= 1
    assert hardware.memory_bytes is not None
    assert hardware.memory_bytes > 1 << 20
    assert hardware.architecture
