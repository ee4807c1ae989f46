"""WireGuard on the device: kernel or wireguard-go interfaces, routes, app namespaces, files."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from common.tunnel import TunnelConfig
from tier3.daemon.wgconf import build_resolv_conf, build_setconf, build_wg_quick
from tier3.errors import TunnelError
from tier3.keys import KeyPair
from tier3.schema import TunnelMode, TunnelState

logger = logging.getLogger(__name__)

#: wireguard-go's control sockets, shared by every network namespace on the host.
WIREGUARD_RUN_DIR = Path("/var/run/wireguard")
SYS_NET = Path("/sys/class/net")
NETNS_ETC = Path("/etc/netns")
CAP_NET_ADMIN = 12
_POLL_INTERVAL = 0.01


def has_net_admin(status_file: Path = Path("/proc/self/status")) -> bool:
    """Whether this process may create interfaces and routes (CAP_NET_ADMIN is effective)."""
    try:
        for line in status_file.read_text(encoding="ascii").splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        return False
    return False


@dataclass(frozen=True, slots=True)
class ActiveTunnel:
    """A tunnel this process brought up (or the files it wrote instead)."""

    mode: TunnelMode
    interface: str | None = None
    namespace: str | None = None
    config_file: Path | None = None
    resolv_conf: Path | None = None
    message: str | None = None
    process: asyncio.subprocess.Process | None = field(default=None, compare=False, repr=False)

    def state(self) -> TunnelState:
        return TunnelState(
            mode=self.mode,
            interface=self.interface,
            config_file=str(self.config_file) if self.config_file else None,
            resolv_conf=str(self.resolv_conf) if self.resolv_conf else None,
            message=self.message,
        )


class TunnelDriver(Protocol):
    """Brings the device side of a tunnel up and down."""

    async def bring_up(self, keypair: KeyPair, tunnel: TunnelConfig) -> ActiveTunnel: ...

    async def tear_down(self, active: ActiveTunnel) -> None: ...


def write_config_files(
    directory: Path,
    name: str,
    keypair: KeyPair,
    tunnel: TunnelConfig,
    *,
    persistent_keepalive: int,
) -> tuple[Path, Path | None]:
    """Write `<name>.conf` (wg-quick, mode 0600) and `<name>.resolv.conf` into `directory`."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    config_file = directory / f"{name}.conf"
    _write_private(
        config_file,
        build_wg_quick(keypair.private_key, tunnel, persistent_keepalive=persistent_keepalive),
    )
    resolv_text = build_resolv_conf(tunnel)
    resolv_file: Path | None = None
    if resolv_text is not None:
        resolv_file = directory / f"{name}.resolv.conf"
        _write_private(resolv_file, resolv_text)
    return config_file, resolv_file


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


class WireGuardTunnels:
    """Kernel WireGuard where the kernel has it, wireguard-go otherwise, config-only as a fallback.

    Interfaces are named `<prefix><6 hex digits>`, unique on the host: the
    userspace control sockets in /var/run/wireguard are shared by every network
    namespace. With `namespace`, the interface is moved into that network
    namespace after it is configured, so its encrypted traffic still leaves
    from this one (the CLI runs the app in such a namespace).
    """

    def __init__(
        self,
        *,
        mode: Literal["auto"] | TunnelMode,
        config_dir: Path,
        interface_prefix: str,
        wireguard_go: str,
        persistent_keepalive: int,
        setup_timeout: float,
        namespace: str | None = None,
        privileged: Callable[[], bool] = has_net_admin,
    ) -> None:
        self.mode = mode
        self.config_dir = config_dir
        self.interface_prefix = interface_prefix
        self.wireguard_go = wireguard_go
        self.persistent_keepalive = persistent_keepalive
        self.setup_timeout = setup_timeout
        self.namespace = namespace
        self._privileged = privileged
        self._kernel_missing = mode == TunnelMode.USERSPACE

    async def bring_up(self, keypair: KeyPair, tunnel: TunnelConfig) -> ActiveTunnel:
        name = self._new_interface_name()
        reason = self._config_only_reason()
        if reason is not None:
            return self._config_only(name, keypair, tunnel, reason)
        if not self._kernel_missing:
            try:
                await self._run(["ip", "link", "add", "dev", name, "type", "wireguard"])
            except TunnelError as exc:
                if self.mode == TunnelMode.KERNEL:
                    raise
                logger.info("no kernel WireGuard (%s); using %s", exc, self.wireguard_go)
                self._kernel_missing = True
            else:
                return await self._configure(
                    name, ActiveTunnel(mode=TunnelMode.KERNEL, interface=name), keypair, tunnel
                )
        if shutil.which(self.wireguard_go) is None:
            reason = f"neither kernel WireGuard nor {self.wireguard_go} is available"
            if self.mode != "auto":
                raise TunnelError(reason)
            return self._config_only(name, keypair, tunnel, reason)
        process = await self._start_wireguard_go(name)
        active = ActiveTunnel(mode=TunnelMode.USERSPACE, interface=name, process=process)
        return await self._configure(name, active, keypair, tunnel)

    async def tear_down(self, active: ActiveTunnel) -> None:
        """Remove the interface (its routes go with it) or the config-only files."""
        if active.mode is TunnelMode.CONFIG_ONLY:
            for path in (active.config_file, active.resolv_conf):
                if path is not None:
                    path.unlink(missing_ok=True)
            return
        if active.interface is None:
            return
        if active.process is not None and active.process.returncode is None:
            active.process.terminate()
            try:
                async with asyncio.timeout(self.setup_timeout):
                    await active.process.wait()
            except TimeoutError:
                active.process.kill()
                await active.process.wait()
        with contextlib.suppress(TunnelError):
            if self._link_exists(active):
                await self._run([*self._ip(active.namespace), "link", "delete", active.interface])
        (WIREGUARD_RUN_DIR / f"{active.interface}.sock").unlink(missing_ok=True)
        logger.info("tunnel %s is down", active.interface)

    # --- bring-up steps ------------------------------------------------------------------------

    def _config_only_reason(self) -> str | None:
        if self.mode == TunnelMode.CONFIG_ONLY:
            return "configured so (tunnel mode config-only)"
        if not self._privileged():
            reason = "this process lacks CAP_NET_ADMIN (not root)"
            if self.mode != "auto":
                raise TunnelError(f"cannot bring up a {self.mode} tunnel: {reason}")
            return reason
        return None

    def _config_only(
        self, name: str, keypair: KeyPair, tunnel: TunnelConfig, reason: str
    ) -> ActiveTunnel:
        try:
            config_file, resolv_conf = write_config_files(
                self.config_dir,
                name,
                keypair,
                tunnel,
                persistent_keepalive=self.persistent_keepalive,
            )
        except OSError as exc:
            raise TunnelError(f"cannot write the tunnel configuration: {exc}") from exc
        message = (
            f"No tunnel was brought up: {reason}. The WireGuard configuration is in "
            f"{config_file}; bring it up with `sudo wg-quick up {config_file}`."
        )
        # Asked for, it is routine; as a fallback, someone should hear about it.
        level = logging.INFO if self.mode == TunnelMode.CONFIG_ONLY else logging.WARNING
        logger.log(level, "%s", message)
        return ActiveTunnel(
            mode=TunnelMode.CONFIG_ONLY,
            interface=None,
            config_file=config_file,
            resolv_conf=resolv_conf,
            message=message,
        )

    async def _start_wireguard_go(self, name: str) -> asyncio.subprocess.Process:
        # -f keeps it in the foreground: it stays our child, and we reap it.
        try:
            process = await asyncio.create_subprocess_exec(
                self.wireguard_go,
                "-f",
                name,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "LOG_LEVEL": "error"},
            )
        except OSError as exc:
            raise TunnelError(f"cannot run {self.wireguard_go}: {exc}") from exc
        socket_path = WIREGUARD_RUN_DIR / f"{name}.sock"
        try:
            async with asyncio.timeout(self.setup_timeout):
                while not (socket_path.exists() and (SYS_NET / name).exists()):
                    if process.returncode is not None:
                        break
                    await asyncio.sleep(_POLL_INTERVAL)
        except TimeoutError:
            pass
        if process.returncode is not None or not socket_path.exists():
            if process.returncode is None:
                process.kill()
            await process.wait()
            output = b""
            if process.stderr is not None:
                output = await process.stderr.read(4096)
            raise TunnelError(
                f"{self.wireguard_go} could not create {name}: "
                f"{output.decode('utf-8', 'replace').strip() or 'no output'}"
            )
        return process

    async def _configure(
        self, name: str, active: ActiveTunnel, keypair: KeyPair, tunnel: TunnelConfig
    ) -> ActiveTunnel:
        try:
            setconf = build_setconf(
                keypair.private_key, tunnel, persistent_keepalive=self.persistent_keepalive
            )
            # The private key travels on stdin: never in argv, never on disk.
            await self._run(["wg", "setconf", name, "/dev/stdin"], stdin=setconf.encode())
            ip = self._ip(self.namespace)
            if self.namespace is not None:
                await self._run(["ip", "link", "set", "dev", name, "netns", self.namespace])
                active = ActiveTunnel(
                    mode=active.mode,
                    interface=name,
                    namespace=self.namespace,
                    process=active.process,
                )
            for address in tunnel.address:
                await self._run([*ip, "address", "add", str(address), "dev", name])
            await self._run([*ip, "link", "set", "dev", name, "up"])
            for network in self._routed_networks(tunnel):
                await self._run([*ip, "route", "replace", network, "dev", name])
        except BaseException:
            await self.tear_down(active)
            raise
        logger.info(
            "tunnel %s (%s) is up to %s, routing %s",
            name,
            active.mode,
            tunnel.endpoint,
            ", ".join(str(network) for network in tunnel.allowed_ips),
        )
        return active

    def _routed_networks(self, tunnel: TunnelConfig) -> list[str]:
        """Only the allowed IPs are routed; in our own namespace never the path to the endpoint."""
        own = {address.network for address in tunnel.address}
        endpoint_host = tunnel.endpoint.rpartition(":")[0].strip("[]")
        try:
            endpoint: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(
                endpoint_host
            )
        except ValueError:
            endpoint = None
        networks: list[str] = []
        for network in tunnel.allowed_ips:
            if network in own:
                continue
            if (
                self.namespace is None
                and endpoint is not None
                and endpoint.version == network.version
                and endpoint in network
            ):
                logger.warning(
                    "not routing %s through the tunnel: it holds the tunnel's own endpoint %s",
                    network,
                    endpoint,
                )
                continue
            networks.append(str(network))
        return networks

    # --- helpers ---------------------------------------------------------------------------------

    def _new_interface_name(self) -> str:
        for _ in range(16):
            name = f"{self.interface_prefix}{secrets.token_hex(3)}"
            if not (SYS_NET / name).exists() and not (WIREGUARD_RUN_DIR / f"{name}.sock").exists():
                return name
        raise TunnelError("could not find an unused interface name")  # pragma: no cover

    @staticmethod
    def _ip(namespace: str | None) -> list[str]:
        return ["ip", "-n", namespace] if namespace else ["ip"]

    @staticmethod
    def _link_exists(active: ActiveTunnel) -> bool:
        if active.namespace is None:
            return active.interface is not None and (SYS_NET / active.interface).exists()
        return True  # cannot look into another namespace's sysfs; `ip link delete` will tell

    async def _run(self, argv: Sequence[str], *, stdin: bytes | None = None) -> str:
        return await run_command(argv, stdin=stdin, command_timeout=self.setup_timeout)


# Linux pipes hold 64 KiB; a WireGuard config is well under 1 KiB.
_PIPE_CAPACITY = 65536


async def run_command(
    argv: Sequence[str], *, stdin: bytes | None = None, command_timeout: float
) -> str:
    """Run a short system command; raise TunnelError with its message when it fails.

    `stdin` goes through a real pipe filled before the command starts, not the
    event loop's stdin PIPE: uvloop makes that a socket, and `wg setconf IFACE
    /dev/stdin` cannot open a socket (ENXIO).
    """
    stdin_fd: int | None = None
    if stdin is not None:
        stdin_fd, writer = os.pipe()
        try:
            if len(stdin) > _PIPE_CAPACITY:
                raise TunnelError(f"{argv[0]}: input too large for a pipe")
            os.write(writer, stdin)
        finally:
            os.close(writer)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin_fd if stdin_fd is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise TunnelError(f"cannot run {argv[0]}: {exc}") from exc
    finally:
        if stdin_fd is not None:
            os.close(stdin_fd)
    try:
        async with asyncio.timeout(command_timeout):
            stdout, stderr = await process.communicate()
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise TunnelError(
            f"`{' '.join(argv[:4])} ...` took more than {command_timeout:g}s"
        ) from exc
    if process.returncode != 0:
        message = stderr.decode("utf-8", "replace").strip() or f"exit status {process.returncode}"
        raise TunnelError(f"`{' '.join(argv)}` failed: {message}")
    return stdout.decode("utf-8", "replace")


class AppNamespace:
    """A network namespace for one app run by the CLI, with the tunnel's DNS as its resolv.conf.

    `ip netns exec` bind-mounts `/etc/netns/<name>/resolv.conf` over
    `/etc/resolv.conf` for the app, which is how its DNS is set.
    """

    def __init__(self, *, prefix: str, timeout: float) -> None:
        self.name = f"{prefix}-app-{secrets.token_hex(3)}"
        self.timeout = timeout
        self._created = False

    @property
    def etc_dir(self) -> Path:
        return NETNS_ETC / self.name

    async def create(self) -> None:
        await run_command(["ip", "netns", "add", self.name], command_timeout=self.timeout)
        self._created = True
        await run_command(
            ["ip", "-n", self.name, "link", "set", "dev", "lo", "up"], command_timeout=self.timeout
        )

    def set_dns(self, tunnel: TunnelConfig) -> None:
        text = build_resolv_conf(tunnel)
        if text is None:
            return
        self.etc_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        (self.etc_dir / "resolv.conf").write_text(text, encoding="utf-8")

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    async def delete(self) -> None:
        if self._created:
            with contextlib.suppress(TunnelError):
                await run_command(
                    ["ip", "netns", "delete", self.name], command_timeout=self.timeout
                )
            self._created = False
        if self.etc_dir.exists():
            shutil.rmtree(self.etc_dir, ignore_errors=True)
