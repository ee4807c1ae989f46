"""The demo's stage: hosts (network namespaces on a virtual LAN, or loopback), processes, load.

As root with wireguard-go, every host is a network namespace the demo makes
and removes again: `cloud` (ST-1), `edge-1` and `edge-2` (ST-2) and `device`
(ST-3), joined by a bridge in a fifth namespace. Nothing is added to the
machine's own network; only the WireGuard control sockets in
/var/run/wireguard are shared, so interface names carry a per-run prefix.
Otherwise every host is this machine's loopback.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
LAN = ipaddress.IPv4Network("10.250.0.0/24")
#: Host roles and their last address octet on the virtual LAN.
LAN_HOSTS = {"cloud": 10, "edge-1": 11, "edge-2": 12, "device": 20}
COMMAND_TIMEOUT = 15.0
CALL_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class StageError(RuntimeError):
    """The stage could not be set up (a command failed, a program is missing)."""


@dataclass(frozen=True)
class Host:
    """Where one part of the demo runs: a network namespace, or this machine (None)."""

    role: str
    address: str
    namespace: str | None = None

    def argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` as run on this host."""
        if self.namespace is None:
            return list(argv)
        return ["ip", "netns", "exec", self.namespace, *argv]


def netns_unavailable() -> str | None:
    """Why real tunnels in namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "not running as root"
    for program in ("ip", "wg", "wireguard-go"):
        if shutil.which(program) is None:
            return f"{program} is not installed"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing"
    return None


def _run(argv: Sequence[str]) -> str:
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StageError(f"{' '.join(argv)}: {exc}") from exc
    if result.returncode != 0:
        raise StageError(f"{' '.join(argv)}: {result.stderr.strip() or result.returncode}")
    return result.stdout


def run_on(host: Host, argv: Sequence[str]) -> str:
    """Run a short command on `host`; its output, or StageError."""
    return _run(host.argv(argv))


@contextmanager
def virtual_lan(prefix: str) -> Iterator[dict[str, Host]]:
    """The four host namespaces on one bridged LAN; every namespace is deleted on exit."""
    lan = f"{prefix}-lan"
    made: list[str] = []
    try:
        for name in (lan, *(f"{prefix}-{role}" for role in LAN_HOSTS)):
            _run(["ip", "netns", "add", name])
            made.append(name)
            _run(["ip", "-n", name, "link", "set", "dev", "lo", "up"])
        _run(["ip", "-n", lan, "link", "add", "br0", "type", "bridge"])
        # Without an IGMP querier a snooping bridge may drop mDNS: flood multicast instead.
        _run(["ip", "-n", lan, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"])
        _run(["ip", "-n", lan, "link", "set", "dev", "br0", "up"])
        hosts: dict[str, Host] = {}
        for index, (role, octet) in enumerate(LAN_HOSTS.items()):
            namespace = f"{prefix}-{role}"
            port = f"port{index}"
            _run(["ip", "-n", namespace, "link", "add", "eth0", "type", "veth",
                  "peer", "name", port, "netns", lan])  # fmt: skip
            _run(["ip", "-n", lan, "link", "set", "dev", port, "master", "br0", "up"])
            address = str(LAN.network_address + octet)
            _run(["ip", "-n", namespace, "address", "add", f"{address}/{LAN.prefixlen}",
                  "dev", "eth0"])  # fmt: skip
            _run(["ip", "-n", namespace, "link", "set", "dev", "eth0", "up"])
            hosts[role] = Host(role, address, namespace)
        yield hosts
    finally:
        for name in reversed(made):
            _kill_leftovers(name)
            subprocess.run(["ip", "netns", "delete", name], timeout=COMMAND_TIMEOUT, check=False)


def loopback_hosts() -> dict[str, Host]:
    """Every part of the demo on this machine's loopback."""
    return {role: Host(role, "127.0.0.1") for role in LAN_HOSTS}


def _kill_leftovers(namespace: str) -> None:
    result = subprocess.run(
        ["ip", "netns", "pids", namespace],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    for pid in result.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def unique_prefix() -> str:
    """A short prefix no namespace or WireGuard interface on this machine uses yet."""
    for _ in range(20):
        prefix = f"sfdemo{secrets.token_hex(2)}"
        taken = list(NETNS_DIR.glob(f"{prefix}-*")) + list(
            Path("/var/run/wireguard").glob(f"{prefix}*")
        )
        if not taken:
            return prefix
    raise StageError("could not find an unused namespace prefix")


# --- calls inside a namespace ------------------------------------------------------------------

_LIBC = ctypes.CDLL(None, use_errno=True)


def call_on(host: Host, function: Callable[[], T], *, timeout: float = CALL_TIMEOUT) -> T:
    """Run `function` with `host`'s network: on a thread that entered its namespace.

    setns(2) moves only the calling thread, and sockets stay in the namespace
    they were made in, so requests and listeners made by `function` are the host's.
    """
    if host.namespace is None:
        return function()
    namespace = host.namespace
    outcome: list[tuple[bool, object]] = []

    def target() -> None:
        try:
            fd = os.open(NETNS_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _LIBC.setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, os.strerror(errno))
            finally:
                os.close(fd)
            outcome.append((True, function()))
        except BaseException as exc:  # handed to the caller below
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name=f"in {namespace}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"no answer within {timeout:g}s on {host.role}")
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]


def free_port(host: Host) -> int:
    """A TCP port free on `host` a moment ago."""

    def pick() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host.address, 0))
            port: int = sock.getsockname()[1]
            return port

    return call_on(host, pick)


# --- programs ----------------------------------------------------------------------------------


@dataclass
class Process:
    """A program of the demo, with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        return "\n".join(text[-lines:])

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after `STOP_TIMEOUT`; reaped either way. The exit status."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT)
        self._log.close()
        return self.popen.returncode


@dataclass
class Processes:
    """Starts programs on hosts; stops them in reverse order."""

    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def start(
        self, name: str, host: Host, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("wb")
        try:
            popen = subprocess.Popen(
                host.argv(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        except OSError as exc:
            log.close()
            raise StageError(f"cannot start {name}: {exc}") from exc
        process = Process(name, popen, log_path, log)
        self.started.append(process)
        return process

    def stop_all(self) -> list[tuple[str, int]]:
        """Stop every program, newest first; (name, exit status) of each."""
        stopped = [(process.name, process.stop()) for process in reversed(self.started)]
        self.started.clear()
        return stopped


# --- a busy cluster's load, for a real Prometheus to scrape ------------------------------------


@dataclass
class BusyNode:
    """node-exporter's CPU, memory and network series for a node whose CPU is `busy` busy.

    The demo runs on one machine, so both cloudlets would report the same load;
    edge-2 reads its load from a real Prometheus scraping this stand-in instead.
    """

    busy: float
    cpus: int = 8
    _started: float = field(default_factory=time.monotonic)

    def render(self) -> str:
        elapsed = time.monotonic() - self._started
        lines = ["# TYPE node_cpu_seconds_total counter"]
        for cpu in range(self.cpus):
            idle, work = (1 - self.busy) * elapsed, self.busy * elapsed
            lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="idle"}} {idle:.3f}')
            lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="user"}} {work:.3f}')
        lines += [
            f"node_memory_MemTotal_bytes {32 * 1024**3}",
            f"node_memory_MemAvailable_bytes {20 * 1024**3}",
            f'node_network_receive_bytes_total{{device="eth0"}} {elapsed * 4e6:.0f}',
            f'node_network_transmit_bytes_total{{device="eth0"}} {elapsed * 2e6:.0f}',
        ]
        return "\n".join(lines) + "\n"


@contextmanager
def serve_metrics(host: Host, port: int, node: BusyNode) -> Iterator[None]:
    """Serve `node` on `host`'s loopback at `port`, from a thread of this process."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = node.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler, bind_and_activate=False)
    server.socket.close()

    def listen() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(16)
        return sock

    server.socket = call_on(host, listen)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
