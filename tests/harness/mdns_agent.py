"""Zeroconf agent run inside a test namespace: register a service or browse for one, JSON out.

Run as ``python -m tests.harness.mdns_agent register|browse ...`` (see ``--help``). It only
ever binds the interface addresses it is given, never ``InterfaceChoice.All``.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

logger = logging.getLogger(__name__)

SERVICE_TYPE = "_sinfonia._tcp.local."


def _emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _parse_txt(items: Sequence[str]) -> dict[str, str]:
    properties: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--txt expects key=value, got {item!r}")
        properties[key] = value
    return properties


def register(args: argparse.Namespace) -> int:
    """Register one service on ``--address`` until SIGTERM/SIGINT or ``--max-runtime``."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    info = ServiceInfo(
        args.type,
        f"{args.name}.{args.type}",
        addresses=[socket.inet_aton(args.address)],
        port=args.port,
        properties=_parse_txt(args.txt),
        server=f"{args.name}.local.",
    )
    zc = Zeroconf(interfaces=[args.address], ip_version=IPVersion.V4Only)
    try:
        started = time.monotonic()
        zc.register_service(info)
        _emit("registered", name=info.name, seconds=round(time.monotonic() - started, 3))
        stop.wait(args.max_runtime)
        zc.unregister_service(info)
    finally:
        zc.close()
    return 0


def browse(args: argparse.Namespace) -> int:
    """Browse ``--type`` on the ``--address`` interfaces; print the first match or time out."""
    found: queue.Queue[str] = queue.Queue()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        del zeroconf, service_type
        if state_change is ServiceStateChange.Added:
            found.put(name)

    started = time.monotonic()
    deadline = started + args.timeout
    zc = Zeroconf(interfaces=list(args.address), ip_version=IPVersion.V4Only)
    browser = ServiceBrowser(zc, args.type, handlers=[on_change])
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                name = found.get(timeout=remaining)
            except queue.Empty:
                break
            if args.expect and name != f"{args.expect}.{args.type}":
                continue
            wait_ms = max(100, int((deadline - time.monotonic()) * 1000))
            info = zc.get_service_info(args.type, name, timeout=wait_ms)
            if info is None:
                continue
            properties = {
                key.decode(): None if value is None else value.decode()
                for key, value in info.properties.items()
            }
            _emit(
                "found",
                name=name,
                addresses=info.parsed_addresses(),
                port=info.port,
                server=info.server,
                properties=properties,
                seconds=round(time.monotonic() - started, 3),
            )
            return 0
        _emit("timeout", seconds=round(time.monotonic() - started, 3))
        return 1
    finally:
        browser.cancel()
        zc.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run ``register`` or ``browse``."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="mdns_agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    reg = commands.add_parser("register", help="register a service until stopped")
    reg.add_argument("--address", required=True, help="IPv4 address of the interface to use")
    reg.add_argument("--name", required=True, help="instance name, without the type")
    reg.add_argument("--port", type=int, required=True)
    reg.add_argument("--type", default=SERVICE_TYPE)
    reg.add_argument("--txt", action="append", default=[], help="TXT property key=value")
    reg.add_argument("--max-runtime", type=float, default=300.0)
    look = commands.add_parser("browse", help="wait for a service and print it")
    look.add_argument("--address", action="append", required=True, help="interface address")
    look.add_argument("--type", default=SERVICE_TYPE)
    look.add_argument("--expect", help="instance name to wait for (default: any)")
    look.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    return register(args) if args.command == "register" else browse(args)


if __name__ == "__main__":
    sys.exit(main())
