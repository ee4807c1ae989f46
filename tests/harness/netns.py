"""Test hosts as network namespaces: a device and two cloudlets on veth links, WireGuard tunnels.

Every name carries a short per-run prefix: WireGuard's userspace control sockets in
``/var/run/wireguard`` are shared by all namespaces, so interface names must be unique
across the machine, and two runs must not step on each other's namespaces.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.harness.processes import (
    HarnessError,
    ManagedProcess,
    run_checked,
    start_process,
    stop_popen,
    stop_process,
    wait_until,
)
from tests.harness.requirements import ComponentUnavailableError, require_executable, require_root

logger = logging.getLogger(__name__)

#: veth links between the device and each cloudlet are /28 subnets of this network.
LINK_NETWORK = ipaddress.IPv4Network("10.250.0.0/24")
LINK_PREFIX = 28
#: WireGuard tunnel addresses inside the namespaces come from this network.
TUNNEL_NETWORK = ipaddress.IPv4Network("10.251.0.0/24")
WIREGUARD_RUN_DIR = Path("/var/run/wireguard")
NETNS_RUN_DIR = Path("/run/netns")
CLOUDLET_COUNT = 2
#: Keys that only wg-quick understands; they are applied with ip(8) or ignored.
_WG_QUICK_KEYS = frozenset({"address", "dns", "mtu", "table", "saveconfig"})
_WG_QUICK_HOOKS = frozenset({"preup", "postup", "predown", "postdown"})


def check_prerequisites() -> None:
    """Raise `ComponentUnavailableError` unless namespaces and userspace WireGuard can be used."""
    component = "the network-namespace harness"
    require_root(component)
    for program in ("ip", "wireguard-go", "wg", "ping"):
        require_executable(component, program)
    if not Path("/dev/net/tun").exists():
        raise ComponentUnavailableError(f"{component} needs /dev/net/tun for wireguard-go")


def tunnel_address(host: int) -> str:
    """The ``host``-th address of the tunnel network, e.g. ``tunnel_address(1) == '10.251.0.1'``."""
    return str(TUNNEL_NETWORK.network_address + host)


@dataclass(frozen=True)
class NetnsHost:
    """One test host: a network namespace and the veth addresses it owns."""

    namespace: str
    role: str
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        """The host's first veth address."""
        return self.addresses[0]


@dataclass(frozen=True)
class VethLink:
    """A veth pair from the device to one cloudlet, with a /28 subnet."""

    cloudlet: str
    device_interface: str
    device_address: str
    cloudlet_interface: str
    cloudlet_address: str
    prefix_length: int


@dataclass(frozen=True)
class WireGuardConfig:
    """A wg-quick style configuration split into what ip(8) and ``wg setconf`` apply."""

    addresses: tuple[str, ...]
    listen_port: int | None
    mtu: int | None
    routes: tuple[str, ...]
    setconf: str

    @classmethod
    def parse(cls, text: str) -> WireGuardConfig:
        """Parse wg-quick text: Address and MTU go to ip(8), the rest to ``wg setconf``.

        Routes are added for the peers' AllowedIPs outside the interface's own subnets
        (``Table = off`` disables that). DNS and SaveConfig are ignored; hooks are refused.
        """
        addresses: list[str] = []
        allowed: list[str] = []
        mtu: int | None = None
        listen_port: int | None = None
        table = "auto"
        kept: list[str] = []
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                kept.append(line)
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"not a key = value line in WireGuard config: {raw!r}")
            name, value = key.strip().lower(), value.strip()
            if name in _WG_QUICK_HOOKS:
                raise ValueError(f"the harness does not run wg-quick hooks ({key.strip()})")
            if name == "address":
                addresses.extend(part.strip() for part in value.split(",") if part.strip())
            elif name == "mtu":
                mtu = int(value)
            elif name == "table":
                table = value.lower()
            elif name not in _WG_QUICK_KEYS:
                if name == "allowedips":
                    allowed.extend(part.strip() for part in value.split(",") if part.strip())
                elif name == "listenport":
                    listen_port = int(value)
                kept.append(f"{key.strip()} = {value}")
        if not addresses:
            raise ValueError("WireGuard config has no Address")
        routes: list[str] = []
        if table != "off":
            own = {ipaddress.ip_interface(a).network for a in addresses}
            for cidr in allowed:
                network = ipaddress.ip_network(cidr, strict=False)
                if network not in own and str(network) not in routes:
                    routes.append(str(network))
        return cls(tuple(addresses), listen_port, mtu, tuple(routes), "\n".join(kept) + "\n")


@dataclass(frozen=True)
class WireGuardInterface:
    """A wireguard-go interface running inside a namespace."""

    namespace: str
    name: str
    addresses: tuple[str, ...]
    public_key: str
    listen_port: int | None
    process: ManagedProcess

    @property
    def address(self) -> str:
        """The first tunnel address without its prefix length."""
        return str(ipaddress.ip_interface(self.addresses[0]).ip)


def wireguard_keypair() -> tuple[str, str]:
    """Return a fresh ``(private_key, public_key)`` made by ``wg genkey``/``wg pubkey``."""
    private = run_checked(["wg", "genkey"], timeout=10).stdout.strip()
    public = run_checked(["wg", "pubkey"], timeout=10, input_text=private + "\n").stdout.strip()
    return private, public


@dataclass(frozen=True)
class NetnsHosts:
    """The device and cloudlet namespaces of one test run, with helpers to act inside them."""

    prefix: str
    device: NetnsHost
    cloudlets: tuple[NetnsHost, ...]
    links: tuple[VethLink, ...]
    workdir: Path
    _children: list[subprocess.Popen[Any]] = field(default_factory=list, repr=False, compare=False)
    _tunnels: list[WireGuardInterface] = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _tunnel_numbers: Iterator[int] = field(
        default_factory=itertools.count, repr=False, compare=False
    )

    @property
    def hosts(self) -> tuple[NetnsHost, ...]:
        """All hosts, device first."""
        return (self.device, *self.cloudlets)

    def link(self, cloudlet: NetnsHost) -> VethLink:
        """The veth link between the device and ``cloudlet``."""
        for link in self.links:
            if link.cloudlet == cloudlet.namespace:
                return link
        raise KeyError(cloudlet.namespace)

    @staticmethod
    def _name(ns: str | NetnsHost) -> str:
        return ns.namespace if isinstance(ns, NetnsHost) else ns

    def exec_argv(self, ns: str | NetnsHost, argv: Sequence[str]) -> list[str]:
        """The command line that runs ``argv`` inside namespace ``ns``."""
        return ["ip", "netns", "exec", self._name(ns), *argv]

    def run(
        self,
        ns: str | NetnsHost,
        argv: Sequence[str],
        timeout: float = 10.0,
        *,
        input_text: str | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in a namespace and return its result (the caller checks returncode).

        Raises `subprocess.TimeoutExpired` (after killing the command) past ``timeout``.
        """
        full_env = {**os.environ, **env} if env else None
        return subprocess.run(
            self.exec_argv(ns, argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=full_env,
            check=False,
        )

    def popen(
        self,
        ns: str | NetnsHost,
        argv: Sequence[str],
        *,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        stderr: int | IO[Any] | None = subprocess.PIPE,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        """Start ``argv`` in a namespace (text pipes by default).

        Stop it with `stop_popen`; whatever is still running at session end is stopped then.
        """
        full_env = {**os.environ, **env} if env else None
        child = subprocess.Popen(
            self.exec_argv(ns, argv),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=True,
            cwd=cwd,
            env=full_env,
        )
        with self._lock:
            self._children.append(child)
        return child

    def wireguard_up(
        self, ns: str | NetnsHost, config: str | WireGuardConfig, name: str | None = None
    ) -> WireGuardInterface:
        """Bring up a wireguard-go interface in ``ns`` from a wg-quick style config.

        The interface is named ``<prefix>wg<n>`` unless ``name`` is given (keep it unique
        machine-wide and at most 15 characters).
        """
        parsed = config if isinstance(config, WireGuardConfig) else WireGuardConfig.parse(config)
        namespace = self._name(ns)
        with self._lock:
            name = name or f"{self.prefix}wg{next(self._tunnel_numbers)}"
            if any(t.name == name for t in self._tunnels):
                raise HarnessError(f"WireGuard interface {name} is already up")
        if len(name) > 15:
            raise ValueError(f"interface name {name!r} is longer than 15 characters")
        # -f: stay in the foreground, so the harness is its parent and can reap it.
        process = start_process(
            f"wireguard-go-{name}",
            self.exec_argv(namespace, ["wireguard-go", "-f", name]),
            self.workdir / "logs",
            env={"LOG_LEVEL": "verbose"},
        )
        try:
            socket_path = WIREGUARD_RUN_DIR / f"{name}.sock"
            wait_until(
                lambda: (
                    socket_path.exists()
                    and self.run(namespace, ["ip", "link", "show", "dev", name]).returncode == 0
                ),
                timeout=10,
                what=f"wireguard-go interface {name} in {namespace}",
                processes=[process],
                interval=0.02,
            )
            conf_path = self.workdir / f"{name}.conf"
            conf_path.touch(mode=0o600)
            conf_path.write_text(parsed.setconf, encoding="utf-8")
            try:
                self._checked(namespace, ["wg", "setconf", name, str(conf_path)])
            finally:
                conf_path.unlink()  # it holds the private key
            for address in parsed.addresses:
                self._checked(namespace, ["ip", "address", "add", address, "dev", name])
            if parsed.mtu is not None:
                self._checked(namespace, ["ip", "link", "set", "dev", name, "mtu", str(parsed.mtu)])
            self._checked(namespace, ["ip", "link", "set", "dev", name, "up"])
            for route in parsed.routes:
                self._checked(namespace, ["ip", "route", "replace", route, "dev", name])
            public_key = self._checked(namespace, ["wg", "show", name, "public-key"]).strip()
        except BaseException:
            stop_process(process)
            raise
        interface = WireGuardInterface(
            namespace=namespace,
            name=name,
            addresses=parsed.addresses,
            public_key=public_key,
            listen_port=parsed.listen_port,
            process=process,
        )
        with self._lock:
            self._tunnels.append(interface)
        logger.info("wireguard %s up in %s at %s", name, namespace, ", ".join(parsed.addresses))
        return interface

    def wireguard_down(self, interface: WireGuardInterface) -> None:
        """Stop the interface's wireguard-go (which removes the device and its socket)."""
        with self._lock:
            if interface in self._tunnels:
                self._tunnels.remove(interface)
        stop_process(interface.process)
        gone = self.run(interface.namespace, ["ip", "link", "show", "dev", interface.name])
        if gone.returncode == 0:
            self.run(interface.namespace, ["ip", "link", "delete", "dev", interface.name])
        (WIREGUARD_RUN_DIR / f"{interface.name}.sock").unlink(missing_ok=True)
        logger.info("wireguard %s down in %s", interface.name, interface.namespace)

    def close(self) -> None:
        """Stop every tunnel and child started through these hosts."""
        for interface in list(reversed(self._tunnels)):
            self.wireguard_down(interface)
        with self._lock:
            children, self._children[:] = list(self._children), []
        for child in children:
            stop_popen(child, f"netns child {child.args!r}")

    def _checked(self, namespace: str, argv: Sequence[str]) -> str:
        result = self.run(namespace, argv)
        if result.returncode != 0:
            raise HarnessError(
                f"{' '.join(argv)} in {namespace} exited with {result.returncode}: "
                f"{result.stderr.strip()}"
            )
        return result.stdout


def _unique_prefix(attempts: int = 20) -> str:
    for _ in range(attempts):
        prefix = f"sf{secrets.token_hex(2)}"
        if not any(NETNS_RUN_DIR.glob(f"{prefix}-*")) and not any(
            WIREGUARD_RUN_DIR.glob(f"{prefix}*")
        ):
            return prefix
    raise HarnessError("could not find an unused namespace prefix")


def _ip(*args: str) -> None:
    run_checked(["ip", *args], timeout=10)


def _kill_leftovers(namespace: str) -> None:
    """Kill processes still inside a namespace (the harness reaps its own children first)."""
    result = subprocess.run(
        ["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=10, check=False
    )
    for pid in result.stdout.split():
        logger.warning("killing leftover pid %s in namespace %s", pid, namespace)
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            continue


@contextmanager
def running_netns_hosts(workdir: Path) -> Iterator[NetnsHosts]:
    """Create the device and cloudlet namespaces with their veth links; delete them on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = _unique_prefix()
    device_ns = f"{prefix}-device"
    cloudlet_names = [f"{prefix}-cloudlet{i}" for i in range(1, CLOUDLET_COUNT + 1)]
    created: list[str] = []
    hosts: NetnsHosts | None = None
    try:
        for namespace in (device_ns, *cloudlet_names):
            _ip("netns", "add", namespace)
            created.append(namespace)
            _ip("-n", namespace, "link", "set", "dev", "lo", "up")
        subnets = LINK_NETWORK.subnets(new_prefix=LINK_PREFIX)
        links: list[VethLink] = []
        for index, cloudlet_ns in enumerate(cloudlet_names, start=1):
            subnet = next(subnets)
            device_address = str(subnet.network_address + 1)
            cloudlet_address = str(subnet.network_address + 2)
            link = VethLink(
                cloudlet=cloudlet_ns,
                device_interface=f"{prefix}d{index}",
                device_address=device_address,
                cloudlet_interface=f"{prefix}c{index}",
                cloudlet_address=cloudlet_address,
                prefix_length=subnet.prefixlen,
            )
            # Both ends are created directly inside their namespaces.
            _ip(
                "-n", device_ns, "link", "add", link.device_interface, "type", "veth",
                "peer", "name", link.cloudlet_interface, "netns", cloudlet_ns,
            )  # fmt: skip
            for namespace, interface, address in (
                (device_ns, link.device_interface, device_address),
                (cloudlet_ns, link.cloudlet_interface, cloudlet_address),
            ):
                _ip("-n", namespace, "address", "add", f"{address}/{subnet.prefixlen}",
                    "dev", interface)  # fmt: skip
                _ip("-n", namespace, "link", "set", "dev", interface, "up")
            links.append(link)
        hosts = NetnsHosts(
            prefix=prefix,
            device=NetnsHost(device_ns, "device", tuple(link.device_address for link in links)),
            cloudlets=tuple(
                NetnsHost(link.cloudlet, f"cloudlet{index}", (link.cloudlet_address,))
                for index, link in enumerate(links, start=1)
            ),
            links=tuple(links),
            workdir=workdir,
        )
        logger.info("namespaces %s ready", ", ".join(created))
        yield hosts
    finally:
        if hosts is not None:
            hosts.close()
        for namespace in reversed(created):
            _kill_leftovers(namespace)
            result = subprocess.run(
                ["ip", "netns", "delete", namespace],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            if result.returncode != 0:
                logger.warning("ip netns delete %s: %s", namespace, result.stderr.strip())
