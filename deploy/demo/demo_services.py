"""The demo's services: ST-1, edge-1, edge-2 (with a Prometheus) and ST-3, configured and started.

Each service gets a YAML settings file in the demo's work directory and runs
as its console script (`sinfonia-tier1` ...) on its host, as an operator runs
it; the demo itself talks to them only over HTTP and through the SDK.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from demo_output import Out
from demo_stage import (
    BusyNode,
    Host,
    Process,
    Processes,
    call_on,
    free_port,
    loopback_hosts,
    netns_unavailable,
    serve_metrics,
    unique_prefix,
    virtual_lan,
)

from tier3.sdk import Client

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "deploy" / "recipes"
BIN = Path(sys.executable).parent
DEVICE_LOCATION = (40.4433, -79.9436)  # Carnegie Mellon University, Pittsburgh
EDGE_1_LOCATION = (40.4406, -79.9959)  # downtown Pittsburgh, about 4 km away
EDGE_2_LOCATION = (40.4435, -79.9441)  # the device's own building
EDGE_2_BUSY = 0.9
STARTUP_TIMEOUT = 90.0
TIER1_PORT, TIER2_PORT, PROMETHEUS_PORT, EXPORTER_PORT = 5000, 5001, 9090, 9100


@dataclass
class Stage:
    """The hosts, the programs on them, and where each service answers."""

    hosts: dict[str, Host]
    workdir: Path
    tunnels: bool
    processes: Processes
    prefix: str
    fallback_reason: str | None
    ports: dict[str, int] = field(default_factory=dict)
    prometheus: bool = False

    @property
    def device(self) -> Host:
        return self.hosts["device"]

    def url(self, role: str, port_name: str) -> str:
        return f"http://{self.hosts[role].address}:{self.ports[port_name]}"

    @property
    def tier1_url(self) -> str:
        return self.url("cloud", "tier1")

    @property
    def socket(self) -> Path:
        return self.workdir / "tier3.sock"

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET `url` from the device, as the app there would."""

        def send() -> httpx.Response:
            return httpx.get(url, timeout=5.0, trust_env=False, **kwargs)

        return call_on(self.device, send)


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _edge_config(stage: Stage, role: str, tier1_peer: str) -> dict[str, Any]:
    host = stage.hosts[role]
    number = int(role[-1])
    config: dict[str, Any] = {
        "host": "0.0.0.0" if stage.tunnels else host.address,  # noqa: S104 - its own namespace
        "port": stage.ports[role],
        "api_url": stage.url(role, role),
        "state_dir": str(stage.workdir / role),
        "driver": "local",
        "cloudlet": {
            "name": role,
            "owner": "Pittsburgh Edge Co-op" if number == 1 else "the device owner",
            "locations": [list(EDGE_1_LOCATION if number == 1 else EDGE_2_LOCATION)],
        },
        "tier1": [{"url": tier1_peer, "keepalive_interval": 2.0}],
        "registration": {"backoff_initial": 0.2, "backoff_max": 2.0, "ready_poll_interval": 0.5},
        "metrics": {"interval": 1.0},
        "log_level": "info",
    }
    if stage.tunnels:
        pool = ipaddress.IPv4Network(f"10.251.{number}.0/24")
        config["tunnel"] = {
            "mode": "managed",
            "interface": f"{stage.prefix}e{number}",
            "endpoint": f"{host.address}:51820",
            "client_pool": str(pool),
        }
        config["local"] = {"bind_host": str(pool.network_address + 1)}  # reachable by tunnel
    else:
        config["local"] = {"bind_host": "127.0.0.1"}
    if number == 2:
        device = ipaddress.ip_address(stage.device.address)
        lan = "127.0.0.0/8" if device.is_loopback else f"{device}/24"
        config["cloudlet"]["local_networks"] = [str(ipaddress.ip_network(lan, strict=False))]
        config |= {
            "jit": True,
            "recipes_dir": str(RECIPES),
            "zeroconf": {"enabled": True, "interfaces": [host.address]},
        }
        if stage.prometheus:
            config["metrics"] = {
                "interval": 1.0,
                "prometheus_url": f"http://127.0.0.1:{stage.ports['prometheus']}",
                "rate_window": "5s",
            }
    return config


def start_services(stage: Stage, out: Out, stack: ExitStack) -> None:
    """ST-1, edge-1, edge-2 (and its Prometheus), ST-3; returns once all are ready."""
    hosts, work = stage.hosts, stage.workdir
    cloud, edge_2, device = hosts["cloud"], hosts["edge-2"], hosts["device"]
    if stage.tunnels:
        stage.ports.update({"tier1": TIER1_PORT, "edge-1": TIER2_PORT, "edge-2": TIER2_PORT})
        stage.ports.update({"prometheus": PROMETHEUS_PORT, "exporter": EXPORTER_PORT})
    else:
        for name in ("tier1", "edge-1", "edge-2", "prometheus", "exporter"):
            stage.ports[name] = free_port(cloud)
    run = stage.processes
    procs: list[Process] = []

    tier1 = _write(
        work / "tier1.yaml",
        {
            "host": "0.0.0.0" if stage.tunnels else cloud.address,  # noqa: S104 - own namespace
            "port": stage.ports["tier1"],
            "recipes": {"directory": str(RECIPES)},
            "keepalive": {"min_interval": 1.0},
            "log_level": "info",
        },
    )
    procs.append(run.start("ST-1", cloud, [str(BIN / "sinfonia-tier1"), "serve", "-c", str(tier1)]))

    if stage.prometheus:
        stack.enter_context(serve_metrics(edge_2, stage.ports["exporter"], BusyNode(EDGE_2_BUSY)))
        prometheus_dir = work / "prometheus"
        prometheus_dir.mkdir()
        scrape = _write(
            prometheus_dir / "prometheus.yml",
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "node",
                        "static_configs": [{"targets": [f"127.0.0.1:{stage.ports['exporter']}"]}],
                    }
                ],
            },
        )
        procs.append(
            run.start(
                "Prometheus",
                edge_2,
                [
                    "prometheus",
                    f"--config.file={scrape}",
                    f"--storage.tsdb.path={prometheus_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{stage.ports['prometheus']}",
                ],
            )
        )

    for role in ("edge-1", "edge-2"):
        config = _write(work / f"{role}.yaml", _edge_config(stage, role, stage.tier1_url))
        procs.append(
            run.start(role, hosts[role], [str(BIN / "sinfonia-tier2"), "serve", "-c", str(config)])
        )

    tier3 = _write(
        work / "tier3.yaml",
        {
            "unix_socket": str(stage.socket),
            "cache_dir": str(work / "device"),
            "tier1": {"url": stage.tier1_url},
            "discovery": {"interfaces": [device.address], "browse_timeout": 2.0},
            "device": {"location": f"{DEVICE_LOCATION[0]},{DEVICE_LOCATION[1]}"},
            "tunnel": {"mode": "auto" if stage.tunnels else "config-only"},
            "log_level": "info",
        },
    )
    procs.append(
        run.start("ST-3", device, [str(BIN / "sinfonia-tier3"), "serve", "-c", str(tier3)])
    )

    def ready(role: str, port: str) -> Callable[[], bool]:
        return lambda: stage.get(f"{stage.url(role, port)}/readyz").status_code == 200

    def daemon_ready() -> bool:
        with Client(uds=stage.socket, timeout=2) as client:
            client.list_backends()
        return True

    out.wait(
        "starting the services",
        {
            "ST-1": ready("cloud", "tier1"),
            "edge-1": ready("edge-1", "edge-1"),
            "edge-2": ready("edge-2", "edge-2"),
            "ST-3": daemon_ready,
        },
        timeout=STARTUP_TIMEOUT,
        processes=procs,
    )

    def registered(name: str, busy: float | None) -> Callable[[], bool]:
        def check() -> bool:
            rows = stage.get(f"{stage.tier1_url}/api/v2/cloudlets").json()["items"]
            for row in rows:
                if row["static"]["name"] == name:
                    cpu = row["metrics"].get("cpu_utilization")
                    return cpu is not None and (busy is None or abs(cpu - busy) < 0.05)
            return False

        return check

    def announced() -> bool:
        with Client(uds=stage.socket, timeout=2) as client:
            return any(c.name.startswith("edge-2") for c in client.list_cloudlets())

    out.line("      waiting for the cloudlets to register with ST-1 and report their load,")
    out.line("      and for the device to hear edge-2's Zeroconf announcement:")
    out.wait(
        "waiting for registration and announcements",
        {
            "edge-1 load": registered("edge-1", None),
            "edge-2 load": registered("edge-2", EDGE_2_BUSY if stage.prometheus else None),
            "Zeroconf": announced,
        },
        timeout=STARTUP_TIMEOUT,
        processes=procs,
    )


@contextlib.contextmanager
def staged(out: Out, workdir: Path, force_loopback: bool) -> Iterator[Stage]:
    reason = "asked for --loopback" if force_loopback else netns_unavailable()
    prometheus = shutil.which("prometheus") is not None
    with ExitStack() as stack:
        if reason is None:
            prefix = unique_prefix()
            hosts = stack.enter_context(virtual_lan(prefix))
            out.line(
                "Network: four hosts, each a network namespace, on a virtual LAN 10.250.0.0/24"
            )
            out.detail(", ".join(f"{role} {host.address}" for role, host in hosts.items()))
            out.detail("the app will reach its backend through a real WireGuard tunnel")
        else:
            prefix = "sfdemo"
            hosts = loopback_hosts()
            out.line(f"Network: this machine's loopback ({reason})")
            out.detail("tunnels are config-only: ST-3 writes their configuration, brings none up")
        stage = Stage(hosts, workdir, reason is None, Processes(workdir / "logs"), prefix, reason)
        stage.prometheus = prometheus
        stack.callback(stage.processes.stop_all)
        yield stage
