"""A device and two cloudlets in network namespaces: WireGuard, stand-in ST-1/ST-2, backends."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.mdns import REPO_ROOT, read_json_line
from tests.harness.netns import NetnsHost, NetnsHosts, tunnel_address, wireguard_keypair
from tests.harness.processes import stop_popen
from tests.tier3.standins import read_records

TIER1_PORT = 7001
TIER2_PORT = 7002
BACKEND_PORT = 8080
WIREGUARD_PORT = 51820
STARTUP_TIMEOUT = 20.0

#: Fetches a URL, retrying while the tunnel's first handshake happens; prints the body.
FETCH = """
import sys, time, urllib.request
url, attempts = sys.argv[1], int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for attempt in range(attempts):
    try:
        with opener.open(url, timeout=1.5) as response:
            print(response.read().decode())
            sys.exit(0)
    except OSError as exc:
        error = exc
        time.sleep(0.2)
print(f"unreachable: {error}")
sys.exit(1)
"""


@dataclass(frozen=True)
class CloudletHost:
    """One cloudlet namespace: its WireGuard gateway, backend and stand-in ST-2."""

    host: NetnsHost
    cloudlet_id: uuid.UUID
    name: str
    backend_address: str
    record: Path

    @property
    def api_url(self) -> str:
        return f"http://{self.host.address}:{TIER2_PORT}"

    @property
    def backend_url(self) -> str:
        return f"http://{self.backend_address}:{BACKEND_PORT}/"

    def records(self, method: str | None = None) -> list[dict[str, Any]]:
        return [r for r in read_records(self.record) if method is None or r["method"] == method]


@dataclass
class DeviceTestbed:
    hosts: NetnsHosts
    workdir: Path
    cloudlets: tuple[CloudletHost, ...]
    tier1_record: Path
    _children: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def device(self) -> NetnsHost:
        return self.hosts.device

    @property
    def tier1_url(self) -> str:
        return f"http://127.0.0.1:{TIER1_PORT}"

    def tier1_records(self, method: str | None = None) -> list[dict[str, Any]]:
        records = read_records(self.tier1_record)
        return [r for r in records if method is None or r["method"] == method]

    def start(self, ns: NetnsHost, argv: list[str], env: dict[str, str] | None = None) -> Any:
        """Start a Python module in a namespace and wait for its `ready` line."""
        child = self.hosts.popen(ns, [sys.executable, *argv], cwd=REPO_ROOT, env=env)
        self._children.append(child)
        event = read_json_line(child, STARTUP_TIMEOUT)
        if event.get("event") != "ready":
            raise RuntimeError(f"{argv} did not start: {event}")
        return child

    def fetch(self, url: str, attempts: int = 10) -> subprocess.CompletedProcess[str]:
        """GET `url` from the device namespace (what an app on the device does)."""
        return self.hosts.run(
            self.device, [sys.executable, "-c", FETCH, url, str(attempts)], timeout=30
        )

    def connect_seconds(self, host: str, port: int) -> float:
        """How long a TCP connect from the device to `host:port` takes (one round trip)."""
        code = (
            "import socket, sys, time; t = time.perf_counter(); "
            "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close(); "
            "print(time.perf_counter() - t)"
        )
        result = self.hosts.run(self.device, [sys.executable, "-c", code, host, str(port)])
        assert result.returncode == 0, result.stderr
        return float(result.stdout)

    def device_links(self) -> str:
        return self.hosts.run(self.device, ["ip", "-o", "link", "show"]).stdout

    def forget(self, child: subprocess.Popen[str]) -> None:
        """A child the caller stopped itself."""
        self._children.remove(child)

    def close(self) -> None:
        for child in reversed(self._children):
            stop_popen(child, f"testbed child {child.args!r}")


@contextlib.contextmanager
def running_testbed(hosts: NetnsHosts, workdir: Path) -> Iterator[DeviceTestbed]:
    """Gateways, backends and ST-2s in both cloudlet namespaces; ST-1 on the device's loopback."""
    workdir.mkdir(parents=True, exist_ok=True)
    cloudlets: list[CloudletHost] = []
    interfaces = []
    testbed = DeviceTestbed(hosts, workdir, (), workdir / "tier1.jsonl")
    try:
        for index, host in enumerate(hosts.cloudlets):
            private_key, public_key = wireguard_keypair()
            gateway = tunnel_address(1 + 128 * index)
            interface = hosts.wireguard_up(
                host,
                f"[Interface]\nPrivateKey = {private_key}\n"
                f"Address = {gateway}/25\nListenPort = {WIREGUARD_PORT}\n",
            )
            interfaces.append(interface)
            cloudlet = CloudletHost(
                host=host,
                cloudlet_id=uuid.uuid4(),
                name=f"cloudlet{index + 1}",
                backend_address=gateway,
                record=workdir / f"cloudlet{index + 1}.jsonl",
            )
            listen = f"{gateway}:{BACKEND_PORT}"
            body = cloudlet.name
            testbed.start(
                host, ["-m", "tests.tier3.standins", "backend", "--listen", listen, "--body", body]
            )
            config = {
                "cloudlet": str(cloudlet.cloudlet_id),
                "name": cloudlet.name,
                "api_url": cloudlet.api_url,
                "wg_endpoint": f"{host.address}:{WIREGUARD_PORT}",
                "wg_public_key": public_key,
                "wg_interface": interface.name,
                "client_address": f"{tunnel_address(2 + 128 * index)}/32",
                "allowed_ips": [f"{gateway}/32"],
                "services": [["web", gateway, BACKEND_PORT]],
            }
            testbed.start(
                host,
                [
                    "-m", "tests.tier3.standins", "tier2",
                    "--listen", f"{host.address}:{TIER2_PORT}",
                    "--config", json.dumps(config),
                    "--record", str(cloudlet.record),
                ],
            )  # fmt: skip
            cloudlets.append(cloudlet)
        testbed.cloudlets = tuple(cloudlets)
        tier2_args = [arg for c in cloudlets for arg in ("--tier2", c.api_url)]
        testbed.start(
            hosts.device,
            [
                "-m", "tests.tier3.standins", "tier1",
                "--listen", f"127.0.0.1:{TIER1_PORT}",
                "--record", str(testbed.tier1_record),
                *tier2_args,
            ],
        )  # fmt: skip
        yield testbed
    finally:
        testbed.close()
        for interface in interfaces:
            hosts.wireguard_down(interface)


def wait_for(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def added_latency(testbed: DeviceTestbed, cloudlet: NetnsHost, delay_ms: int) -> Iterator[str]:
    """Delay every packet the cloudlet sends to the device by `delay_ms`; yields how.

    `tc netem` when the kernel has it; otherwise a userspace delay line (a TUN
    device the cloudlet's packets to the device are routed through).
    """
    hosts = testbed.hosts
    veth = hosts.link(cloudlet).cloudlet_interface
    netem = ["tc", "qdisc", "add", "dev", veth, "root", "netem", "delay", f"{delay_ms}ms"]
    if hosts.run(cloudlet, netem).returncode == 0:
        try:
            yield "netem"
        finally:
            hosts.run(cloudlet, ["tc", "qdisc", "del", "dev", veth, "root"])
        return
    tun = f"{hosts.prefix}dly"
    line = testbed.start(
        cloudlet,
        ["-m", "tests.tier3.delayline", "--interface", tun, "--delay-ms", str(delay_ms)],
    )
    device_address = hosts.link(cloudlet).device_address
    table = "100"
    setup = [
        ["ip", "link", "set", "dev", tun, "up"],
        ["ip", "route", "add", f"{device_address}/32", "dev", tun, "table", table],
        ["ip", "rule", "add", "fwmark", "1", "lookup", "main", "pref", "100"],
        ["ip", "rule", "add", "to", f"{device_address}/32", "lookup", table, "pref", "200"],
    ]
    try:
        for argv in setup:
            result = hosts.run(cloudlet, argv)
            if result.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
        yield "delay line"
    finally:
        hosts.run(cloudlet, ["ip", "rule", "del", "pref", "200"])
        hosts.run(cloudlet, ["ip", "rule", "del", "pref", "100"])
        stop_popen(line, "delay line")
        testbed.forget(line)
