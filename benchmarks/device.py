"""Times `deploy_backend` end to end on loopback against warm stand-in backends; one JSON line out.

    python -m benchmarks.device [--samples 50]

The app calls the SDK, the SDK the daemon (uvicorn on 127.0.0.1), the daemon
ST-1 (a stand-in forwarding to three stand-in ST-2s whose backends are already
running), chooses, and sets up the tunnel in config-only mode: the WireGuard
bring-up itself is excluded, as the target says. `jit_p50_ms` is the same
call answered by a just-in-time ST-2 announced over Zeroconf on loopback
(static scoping: ST-1 is not asked; the daemon's browser is warm); `jit_cold_ms`
is one in-process call that starts browsing from scratch (`jit_cold_found` says
whether the JIT cloudlet answered within the browse time). Run it from the
repository root: it uses the test stand-ins in `tests/tier3/standins.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import AnyHttpUrl
from zeroconf import IPVersion, ServiceInfo, Zeroconf

from tests.tier3.standins import (
    Recorder,
    Tier1Config,
    Tier2Config,
    build_tier1,
    build_tier2,
    serve_in_thread,
)
from tier3.daemon.app import create_app
from tier3.daemon.discovery import SERVICE_TYPE
from tier3.schema import TunnelMode
from tier3.sdk import Client, InProcessClient
from tier3.settings import DiscoverySettings, Tier1Settings, Tier3Settings, TunnelSettings

WARMUP = 5
LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _cloudlets(count: int) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        urls = []
        for index in range(count):
            port = _free_port()
            config = Tier2Config(
                cloudlet=uuid.uuid4(),
                name=f"bench{index}",
                api_url=f"http://{LOOPBACK}:{port}",
                wg_endpoint=f"192.0.2.{index + 1}:51820",
            )
            stack.enter_context(serve_in_thread(build_tier2(config, Recorder()), port=port))
            urls.append(config.api_url)
        yield urls


@contextlib.contextmanager
def _announced(api: str) -> Iterator[str]:
    """Announce a JIT cloudlet on loopback only (never on every interface)."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    info = ServiceInfo(
        SERVICE_TYPE,
        f"{name}.{SERVICE_TYPE}",
        addresses=[socket.inet_aton(LOOPBACK)],
        port=int(api.rsplit(":", 1)[1]),
        properties={"uuid": str(uuid.uuid4()), "api": api, "version": "1"},
        server=f"{name}.local.",
    )
    zeroconf = Zeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
    try:
        zeroconf.register_service(info)
        yield name
    finally:
        zeroconf.unregister_service(info)
        zeroconf.close()


def _p50_ms(call: Callable[[], object], samples: int, between: Callable[[], object]) -> float:
    timings = []
    for index in range(WARMUP + samples):
        started = time.perf_counter()
        call()
        elapsed = time.perf_counter() - started
        between()
        if index >= WARMUP:
            timings.append(elapsed)
    return round(statistics.median(timings) * 1000, 2)


def run(samples: int) -> dict[str, float | int | bool]:
    results: dict[str, float | int | bool] = {"samples": samples}
    with (
        tempfile.TemporaryDirectory() as scratch,
        _cloudlets(4) as tier2_urls,
        serve_in_thread(
            build_tier1(Tier1Config(tier2_urls=tier2_urls[:3]), Recorder())
        ) as tier1_url,
    ):
        base = Tier3Settings(
            cache_dir=Path(scratch) / "cache",
            tier1=Tier1Settings(url=AnyHttpUrl(tier1_url)),
            tunnel=TunnelSettings(mode=TunnelMode.CONFIG_ONLY, config_dir=Path(scratch) / "wg"),
        )
        app = uuid.uuid4()
        with serve_in_thread(create_app(base)) as daemon_url, Client(daemon_url) as client:
            for strategy in ("first", "probe"):
                results[f"warm_{strategy}_p50_ms"] = _p50_ms(
                    lambda s=strategy: client.deploy_backend(  # type: ignore[misc]
                        None, app, strategy=s, discover=False
                    ),
                    samples,
                    lambda: client.release_backend(app),
                )

        jit_api = tier2_urls[3]
        discovering = base.model_copy(
            update={"discovery": DiscoverySettings(interfaces=[LOOPBACK], static_scoping=True)}
        )
        with (
            _announced(jit_api) as name,
            serve_in_thread(create_app(discovering)) as daemon_url,
            Client(daemon_url) as client,
        ):
            deadline = time.monotonic() + 10
            while name not in [c.name for c in client.list_cloudlets()]:
                if time.monotonic() > deadline:
                    raise RuntimeError("the daemon did not see the JIT cloudlet on loopback")
                time.sleep(0.05)
            chosen = client.deploy_backend(None, app)
            client.release_backend(app)
            if chosen.source != "jit":
                raise RuntimeError(f"expected the JIT cloudlet, got {chosen.deployment.cloudlet}")
            results["jit_p50_ms"] = _p50_ms(
                lambda: client.deploy_backend(None, app),
                samples,
                lambda: client.release_backend(app),
            )
            # On loopback a fresh zeroconf browser hears its first answer after about 1.1 s
            # (across veth links it takes tens of milliseconds), so allow 2 s here.
            cold = discovering.model_copy(
                update={
                    "cache_dir": Path(scratch) / "cold",
                    "discovery": DiscoverySettings(
                        interfaces=[LOOPBACK], static_scoping=True, browse_timeout=2.0
                    ),
                }
            )
            started = time.perf_counter()
            with InProcessClient(cold) as in_process:
                backend = in_process.deploy_backend(None, app)
                results["jit_cold_ms"] = round((time.perf_counter() - started) * 1000, 2)
                results["jit_cold_found"] = backend.source == "jit"
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.device", description=__doc__)
    parser.add_argument("--samples", type=int, default=50, help="timed calls per figure")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(run(args.samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
