"""`make demo`: an app gets its backend through ST-1, two ST-2 cloudlets and ST-3, on one machine.

Starts ST-1 (in-memory table, the bundled helloworld recipe), two ST-2
cloudlets with the local driver (edge-1 a few km away and idle, edge-2 on the
device's own network, busy, announced over Zeroconf), and the ST-3 daemon.
Then does what an app does with the SDK: `deploy_backend`, use the backend,
release it; and explains each step. Everything stops and is removed at the end.

As root with wireguard-go, each service runs in its own network namespace and
the app reaches its backend through a real WireGuard tunnel; otherwise
everything runs on loopback and ST-3 writes the tunnel's configuration only.
Exit status 0 when every step worked, 1 (with the reason and log lines) if not.
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from demo_output import DemoError, Out, report_failure
from demo_services import DEVICE_LOCATION, EDGE_2_BUSY, Stage, staged, start_services
from demo_stage import Process, StageError, run_on

from common.geo import haversine_km
from common.keys import urlsafe_key
from common.recipe import QoEClass
from tier1.selection.config import default_pipeline
from tier3.sdk import Backend, Client, SinfoniaError, parse_app

DEPLOY_TIMEOUT = 120.0
REACH_TIMEOUT = 20.0


# --- what the app does -----------------------------------------------------------------------


def _weights() -> dict[str, int]:
    return {s.name: s.weight for s in default_pipeline(QoEClass.INTERACTIVE) if s.weight}


def _why(plugin: str, row: dict[str, Any], device_address: str) -> str:
    static, metrics = row["static"], row["metrics"]
    if plugin == "proximity":
        address = ipaddress.ip_address(device_address)
        if any(address in ipaddress.ip_network(n) for n in static["local_networks"]):
            return "on the device's own network"
        if static["locations"]:
            where = static["locations"][0]
            km = haversine_km(*DEVICE_LOCATION, where["latitude"], where["longitude"])
            return f"{km:.0f} km from the device"
        return "location unknown"
    if plugin == "least-loaded":
        cpu = metrics.get("cpu_utilization")
        return "load unknown" if cpu is None else f"CPU {cpu:.0%} busy"
    if plugin == "bandwidth-headroom":
        if static["hardware"].get("network_bytes_per_second") is None:
            return "uplink capacity not declared"
        return "uplink headroom"
    if plugin == "operator-preference":
        return "the recipe names no preferred operator"
    return ""


def explain_short_list(stage: Stage, out: Out, backend: Backend, jit: list[str]) -> None:
    """The short list as ST-3 merged it, and the points ST-1 gave each cloudlet."""
    key = urlsafe_key(backend.deployment.client_public_key)
    location = f"{DEVICE_LOCATION[0]},{DEVICE_LOCATION[1]}"
    listing = stage.get(
        f"{stage.tier1_url}/api/v2/deploy/{backend.app}/{key}", headers={"X-Location": location}
    )
    listing.raise_for_status()
    ranked: list[dict[str, Any]] = listing.json()
    rows = {c["uuid"]: stage.get(f"{stage.tier1_url}/api/v2/cloudlets/{c['uuid']}").json()
            for c in ranked}  # fmt: skip
    by_rank = {candidate["uuid"]: rank for rank, candidate in enumerate(ranked, start=1)}
    order = [u for u in jit if u in by_rank] + [c["uuid"] for c in ranked if c["uuid"] not in jit]
    weights = _weights()
    out.detail("Short list, best first:")
    for position, cloudlet in enumerate(order, start=1):
        candidate = ranked[by_rank[cloudlet] - 1]
        rank = by_rank[cloudlet]
        name = candidate["name"]
        if cloudlet in jit:
            head = (
                f"{position}. {name:<7} just-in-time: it announced itself on the device's network"
                f" (Zeroconf),\n{'':11}and ST-3 puts such cloudlets first."
                f" ST-1 ranked it #{rank} with {candidate['score']:.1f} points:"
            )
        else:
            points = f"{candidate['score']:.1f} points"
            head = f"{position}. {name:<7} ranked #{rank} by ST-1 with {points}:"
        out.detail(head)
        for plugin, score in candidate["scores"].items():
            why = _why(plugin, rows[cloudlet], stage.device.address)
            weight = weights.get(plugin, 1)
            out.detail(f"{'':11}{plugin:<20} {weight} x {score:5.1f}   {why}")
    out.detail(
        "(Each plugin scores 0-100; ST-1 weighs them by the recipe's QoE class, here interactive.)"
    )


def report_unchosen(stage: Stage, out: Out, backend: Backend) -> None:
    """ST-1 deployed on the other cloudlet too; ST-3 has ST-1 release what the app did not pick."""
    for role in ("edge-1", "edge-2"):
        if role == backend.deployment.cloudlet_name:
            continue

        def released(role: str = role) -> bool:
            info = stage.get(f"{stage.url(role, role)}/api/v2/cloudlet").json()
            return not info["deployments"]

        deadline = time.monotonic() + 10.0
        while not released() and time.monotonic() < deadline:
            time.sleep(0.2)
        if released():
            out.detail(
                f"ST-1 had deployed on {role} too; the app did not choose it, so ST-3 had ST-1"
                " release it there."
            )
        else:
            out.detail(f"The deployment on {role} was not released yet; its lease will end it.")


def reach_backend(stage: Stage, out: Out, backend: Backend) -> None:
    """GET the backend from the device: through the tunnel, or directly on loopback."""
    [service] = backend.services[:1]
    url = f"http://{service.host}:{service.port}/"
    tunnel = backend.tunnel
    if tunnel.mode == "config-only":
        out.detail(f"Fell back to config-only ({stage.fallback_reason}): ST-3 brought no tunnel up")
        out.detail(f"and wrote its WireGuard configuration to {tunnel.config_file}.")
        out.detail("The backend listens on loopback here, so the app reaches it directly.")
    else:
        routed = ", ".join(str(n) for n in backend.deployment.tunnel.allowed_ips)
        out.detail(
            f"ST-3 brought up WireGuard interface {tunnel.interface} ({tunnel.mode}) on the device:"
        )
        out.detail(f"  to {backend.deployment.tunnel.endpoint}, routing {routed}")
    deadline = time.monotonic() + REACH_TIMEOUT
    while True:
        try:
            response = stage.get(url)
            break
        except httpx.TransportError as exc:  # the first handshake may take a moment
            if time.monotonic() > deadline:
                raise DemoError(f"the backend at {url} did not answer: {exc}") from exc
            time.sleep(0.2)
    if response.status_code != 200:
        raise DemoError(f"GET {url} answered {response.status_code}: {response.text[:200]}")
    out.detail(f"GET {url} -> {response.status_code} {response.text.strip()!r}")
    if tunnel.mode != "config-only" and tunnel.interface:
        transfer = run_on(stage.device, ["wg", "show", tunnel.interface, "transfer"]).split()
        out.detail(
            f"That went through the real WireGuard tunnel: {transfer[1]} bytes received, "
            f"{transfer[2]} sent on {tunnel.interface}."
        )


def release_backend(stage: Stage, out: Out, client: Client, backend: Backend) -> None:
    client.release_backend(backend.app)
    tunnel = "tunnel" if backend.tunnel.mode != "config-only" else "tunnel configuration"
    out.detail(f"ST-3 removed the {tunnel} and released the deployment. Each cloudlet now runs:")
    for role in ("edge-1", "edge-2"):
        info = stage.get(f"{stage.url(role, role)}/api/v2/cloudlet").json()
        left = info["deployments"]
        if not left:
            out.detail(f"  {role}: nothing")
            continue
        counts = ", ".join(f"{count} {status}" for status, count in left.items())
        out.detail(f"  {role}: {counts}")
        if backend.source == "jit" and str(backend.deployment.cloudlet) == info["uuid"]:
            expires = backend.deployment.expires
            left_s = (expires - datetime.now(UTC)).total_seconds() if expires else None
            lease = f"in {left_s:.0f}s" if left_s is not None else "later"
            out.detail(
                f"    A known limitation: {role} refuses a release sent over its LAN (a device\n"
                "    releases through its own tunnel, and ST-3 had already taken it down). The\n"
                f"    lease ends the deployment {lease}; here, {role} stopping in a moment ends it."
            )


def run_app(stage: Stage, out: Out, app: str, processes: list[Process]) -> None:
    """deploy_backend, explain the list, use the backend, release it: as an app does."""
    with Client(uds=stage.socket, timeout=DEPLOY_TIMEOUT) as client:
        out.line()
        out.line(f'[1/4] The app calls deploy_backend("{app}") through the ST-3 daemon')
        started = time.monotonic()
        try:
            backend = client.deploy_backend(stage.tier1_url, parse_app(app))
        except SinfoniaError as exc:
            involved = [p for p in processes if p.name in ("ST-1", "ST-3")]
            raise DemoError(f"deploy_backend failed: {exc}", *involved) from exc
        out.detail(f"answered in {time.monotonic() - started:.1f}s")
        jit = [str(c.uuid) for c in client.list_cloudlets()]
        explain_short_list(stage, out, backend, jit)
        chosen = backend.deployment
        out.detail(
            f"The app takes the first: {chosen.cloudlet_name}, deployment {chosen.name}, "
            f"service {chosen.services[0].host}:{chosen.services[0].port}."
        )
        report_unchosen(stage, out, backend)

        out.line()
        out.line("[2/4] The app reaches its backend from the device")
        reach_backend(stage, out, backend)

        out.line()
        out.line("[3/4] The app releases its backend")
        release_backend(stage, out, client, backend)


# --- main -------------------------------------------------------------------------------------


def shut_down(stage: Stage, out: Out) -> None:
    out.line()
    out.line("[4/4] Shutting down")
    stopped = stage.processes.stop_all()
    unclean = [f"{name} (exit {code})" for name, code in stopped if code not in (0, -15)]
    if unclean:
        raise DemoError(f"not every service stopped cleanly: {', '.join(unclean)}")
    out.detail(f"stopped {', '.join(name for name, _ in stopped)}: all cleanly")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--app", default="helloworld", help="App UUID or alias to deploy.")
    parser.add_argument(
        "--loopback", action="store_true", help="Run on loopback with config-only tunnels."
    )
    args = parser.parse_args(argv)
    out = Out()
    workdir = Path(tempfile.mkdtemp(prefix="sinfonia-demo-"))
    out.line(
        "Sinfonia demo: an app gets a backend near it through all three tiers, on this machine"
    )
    out.line()
    stage: Stage | None = None
    try:
        with ExitStack() as stack:
            stage = stack.enter_context(staged(out, workdir, args.loopback))
            out.line()
            out.line("Starting the services:")
            out.detail("ST-1  orchestrator: in-memory CloudletTable, the bundled helloworld recipe")
            out.detail("edge-1  ST-2 cloudlet, downtown Pittsburgh, load read from /proc")
            load = (
                f"load from Prometheus ({EDGE_2_BUSY:.0%} busy)"
                if stage.prometheus
                else "load read from /proc (Prometheus is not installed)"
            )
            out.detail(f"edge-2  ST-2 cloudlet on the device's own network, Zeroconf, {load}")
            out.detail("ST-3  device daemon, browsing Zeroconf on the device's network")
            start_services(stage, out, stack)
            run_app(stage, out, args.app, list(stage.processes.started))
            shut_down(stage, out)
    except DemoError as exc:
        report_failure(out, str(exc), exc.processes, workdir / "logs")
        return 1
    except StageError as exc:
        report_failure(out, f"could not set up the demo: {exc}", (), workdir / "logs")
        return 1
    except KeyboardInterrupt:
        out.line("\ninterrupted; everything was stopped and removed")
        return 130
    out.line()
    out.line(f"Done in {time.monotonic() - out.started:.1f}s. Everything was stopped and removed.")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
