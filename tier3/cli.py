"""`sinfonia-tier3`: serve the device daemon, or deploy a backend and run an app in its tunnel."""

# Typer reads the signatures at run time: real (not postponed) annotations here.

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError

from common import __version__
from common.errors import SinfoniaError
from common.service.server import LogFormat, configure_logging
from common.service.settings import LogLevel
from tier3.daemon.app import create_app
from tier3.daemon.discovery import ZeroconfDiscovery, resolve_interfaces
from tier3.daemon.runtime import build_tunnels, running_manager
from tier3.daemon.tunnel import AppNamespace, has_net_admin
from tier3.schema import Backend, DeployBackendRequest, Strategy, Tier1Api, TunnelMode
from tier3.sdk._base import parse_app
from tier3.settings import Tier3Settings

logger = logging.getLogger(__name__)

#: Exit status when the program to run is not found (as a shell says it).
EXIT_NOT_FOUND = 127
#: Exit status when ST-3 itself failed (no backend, no tunnel, bad settings).
EXIT_FAILED = 1

cli = typer.Typer(
    name="sinfonia-tier3",
    help="ST-3 device daemon: gets an app a backend on a nearby cloudlet and tunnels to it.",
    no_args_is_help=True,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"sinfonia {__version__}")
        raise typer.Exit


@cli.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Sinfonia: cross-tier orchestration for edge-native applications."""


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (flags and env win over it)."),
]
InterfaceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--zeroconf-interface",
        "-z",
        help="Browse Zeroconf for JIT cloudlets on this IPv4 address or interface (repeatable).",
    ),
]


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    typer.echo(f"sinfonia-tier3: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn errors a user can act on into one line on stderr and an exit status."""
    try:
        yield
    except SinfoniaError as exc:
        detail = f": {exc.detail}" if exc.detail and exc.detail != exc.title else ""
        raise _fail(f"{exc.title}{detail}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _fail(f"invalid setting {where}: {first['msg']}", 2) from None
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc), 2) from None


def _quiet_http_client_logs() -> None:
    """httpx logs every request at INFO; ST-3 logs what matters itself."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _load_settings(config: Path | None, **overrides: Any) -> Tier3Settings:
    nested: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None or value == []:
            continue
        section, sep, field = key.partition("__")
        if sep:
            nested.setdefault(section, {})[field] = value
        else:
            flat[key] = value
    return Tier3Settings.load(config, **flat, **nested)


# --- serve -------------------------------------------------------------------------------------


@cli.command("serve")
def serve_command(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Loopback address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port to bind.")] = None,
    unix_socket: Annotated[
        Path | None, typer.Option(help="Serve on this Unix socket (mode 0600) instead of TCP.")
    ] = None,
    tier1_url: Annotated[str | None, typer.Option(help="Default ST-1 URL.")] = None,
    zeroconf_interface: InterfaceOption = None,
    tunnel_mode: Annotated[
        str | None, typer.Option(help="auto, kernel, userspace or config-only.")
    ] = None,
    log_level: Annotated[LogLevel | None, typer.Option(help="Log level.")] = None,
    log_format: Annotated[LogFormat | None, typer.Option(help="plain or json.")] = None,
) -> None:
    """Run the daemon's HTTP API on loopback (or a Unix socket) until interrupted."""
    with _clear_errors():
        settings = _load_settings(
            config,
            host=host,
            port=port,
            unix_socket=unix_socket,
            log_level=log_level,
            log_format=log_format,
            tier1__url=tier1_url,
            discovery__interfaces=zeroconf_interface,
            tunnel__mode=tunnel_mode,
        )
        resolve_interfaces(settings.discovery.interfaces)  # a typo fails now, not at start-up
    configure_logging(settings.log_level, settings.log_format)
    _quiet_http_client_logs()
    app = create_app(settings)
    server_config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(server_config)
    with contextlib.suppress(_Stopped), _stop_on_signals():
        if settings.unix_socket is None:
            server.run()
            return
        with _clear_errors(), _bound_unix_socket(settings.unix_socket) as sock:
            server.run(sockets=[sock])


class _Stopped(Exception):  # noqa: N818 - a signal, not an error
    """Raised by SIGTERM/SIGINT once uvicorn has shut down and re-raises the signal."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Let uvicorn's re-raised stop signal unwind normally, so the socket file is removed."""

    def stop(signum: int, frame: object) -> None:
        raise _Stopped(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _bound_unix_socket(path: Path) -> Iterator[socket.socket]:
    """A Unix socket only its owner may use (0600); a stale one from a dead daemon is replaced."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ValueError(f"{path} exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(str(path)) == 0:
                raise ValueError(f"another daemon is serving on {path}")
        path.unlink()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(previous_umask)
    path.chmod(0o600)
    # Listen now: a client connecting while the app starts up waits instead of being refused.
    sock.listen(128)
    try:
        yield sock
    finally:
        sock.close()
        path.unlink(missing_ok=True)


# --- deploy ------------------------------------------------------------------------------------


@cli.command(
    "deploy",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def deploy_command(
    tier1_url: Annotated[str, typer.Argument(help="ST-1 base URL ('-' for JIT cloudlets only).")],
    app: Annotated[str, typer.Argument(help="The app's UUID, or an alias such as helloworld.")],
    command: Annotated[
        list[str] | None, typer.Argument(help="The program to run and its arguments, after --.")
    ] = None,
    config: ConfigOption = None,
    config_only: Annotated[
        bool, typer.Option(help="Write a wg-quick file and a resolv.conf; bring nothing up.")
    ] = False,
    output_dir: Annotated[Path, typer.Option(help="Where --config-only writes its files.")] = Path(
        "."
    ),
    strategy: Annotated[Strategy | None, typer.Option(help="first, random or probe.")] = None,
    results: Annotated[
        int | None, typer.Option(min=1, max=3, help="Deployments to ask for.")
    ] = None,
    zeroconf_interface: InterfaceOption = None,
    browse_timeout: Annotated[
        float | None, typer.Option(help="Seconds to browse for JIT cloudlets.")
    ] = None,
    static_scoping: Annotated[
        bool | None,
        typer.Option(
            "--static-scoping/--no-static-scoping", help="Skip ST-1 when a JIT cloudlet answers."
        ),
    ] = None,
    tier1_api: Annotated[Tier1Api | None, typer.Option(help="v2, or v1 for old ST-1s.")] = None,
    debug: Annotated[bool, typer.Option(help="Log what happens, to stderr.")] = False,
) -> None:
    """Deploy APP's backend near this device and run COMMAND with its traffic in the tunnel.

    COMMAND runs in its own network namespace whose only route is the tunnel;
    its exit status becomes this command's, and the backend is released when it
    exits. Without root, only the configuration files are written.
    """
    configure_logging("debug" if debug else "error", LogFormat.PLAIN)
    _quiet_http_client_logs()
    argv = list(command or [])
    with _clear_errors():
        settings = _load_settings(
            config,
            tier1__url=None if tier1_url == "-" else tier1_url,
            discovery__interfaces=zeroconf_interface,
            discovery__browse_timeout=browse_timeout,
        )
        request = DeployBackendRequest.model_validate(
            {
                "app": parse_app(app),
                "tier1_url": None if tier1_url == "-" else tier1_url,
                "strategy": strategy,
                "results": results,
                "static_scoping": static_scoping,
                "tier1_api": tier1_api,
            }
        )
        if config_only:
            code = asyncio.run(_write_config(settings, request, output_dir.absolute()))
        else:
            code = asyncio.run(_deploy_and_run(settings, request, argv, Path.cwd()))
    raise typer.Exit(code)


async def _write_config(settings: Tier3Settings, request: DeployBackendRequest, where: Path) -> int:
    settings = settings.model_copy(
        update={
            "tunnel": settings.tunnel.model_copy(
                update={"mode": TunnelMode.CONFIG_ONLY, "config_dir": where}
            )
        }
    )
    # The deployment is left running for the user's own wg-quick; its lease bounds its life.
    async with running_manager(settings, release_on_exit=False) as manager:
        backend = await manager.deploy_backend(request)
    _report(backend)
    typer.echo(f"wrote {backend.tunnel.config_file}", err=True)
    if backend.tunnel.resolv_conf:
        typer.echo(f"wrote {backend.tunnel.resolv_conf}", err=True)
    return 0


async def _deploy_and_run(
    settings: Tier3Settings, request: DeployBackendRequest, argv: Sequence[str], fallback_dir: Path
) -> int:
    """Deploy, run the app in a namespace behind the tunnel, release; config-only without root."""
    if not argv:
        raise ValueError("give the program to run after --, or use --config-only")
    program = shutil.which(argv[0])
    if program is None:
        raise _fail(f"{argv[0]}: command not found", EXIT_NOT_FOUND)
    if not has_net_admin():
        # Tunnel mode auto falls back to config-only here, with a message saying why.
        settings = settings.model_copy(
            update={"tunnel": settings.tunnel.model_copy(update={"config_dir": fallback_dir})}
        )
        async with running_manager(settings, release_on_exit=False) as manager:
            backend = await manager.deploy_backend(request)
        raise _fail(f"{argv[0]} was not run. {backend.tunnel.message}")
    namespace = AppNamespace(
        prefix=settings.tunnel.interface_prefix, timeout=settings.tunnel.setup_timeout
    )
    try:
        await namespace.create()
        tunnels = build_tunnels(settings, namespace=namespace.name)
        async with running_manager(settings, tunnels=tunnels) as manager:
            backend = await manager.deploy_backend(request)
            namespace.set_dns(backend.deployment.tunnel)
            _report(backend)
            return await _run_app(
                namespace.exec_argv(_as_invoking_user([program, *argv[1:]])), backend
            )
    finally:
        await namespace.delete()


def _report(backend: Backend) -> None:
    deployment = backend.deployment
    where = deployment.cloudlet_name or str(deployment.cloudlet)
    services = ", ".join(f"{s.name} {s.host}:{s.port}" for s in deployment.services) or "none"
    typer.echo(
        f"backend {deployment.name} on {where} ({backend.source}); services: {services}", err=True
    )


def _as_invoking_user(argv: list[str]) -> list[str]:
    """Run the app as the user who called sudo, not as root, once inside the namespace."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() != 0 or not uid or not gid or uid == "0":
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        logger.warning("setpriv not found: %s runs as root", argv[0])
        return argv
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", *argv]


async def _run_app(argv: Sequence[str], backend: Backend) -> int:
    env = dict(os.environ)
    env.update(_app_environment(backend))
    process = await asyncio.create_subprocess_exec(*argv, env=env)
    loop = asyncio.get_running_loop()
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for signum in forwarded:
        loop.add_signal_handler(signum, _forward, process, signum)
    try:
        code = await process.wait()
    finally:
        for signum in forwarded:
            loop.remove_signal_handler(signum)
    return 128 - code if code < 0 else code


def _forward(process: asyncio.subprocess.Process, signum: int) -> None:
    if process.returncode is None:
        process.send_signal(signum)


def _app_environment(backend: Backend) -> dict[str, str]:
    deployment = backend.deployment
    env = {
        "SINFONIA_APP": str(backend.app),
        "SINFONIA_CLOUDLET": str(deployment.cloudlet),
        "SINFONIA_DEPLOYMENT": deployment.name,
        "SINFONIA_SERVICES": json.dumps([s.model_dump(mode="json") for s in deployment.services]),
    }
    if deployment.services:
        first = deployment.services[0]
        env["SINFONIA_BACKEND"] = f"{first.host}:{first.port}"
    return env


# --- cloudlets ---------------------------------------------------------------------------------


@cli.command("cloudlets")
def cloudlets_command(
    zeroconf_interface: InterfaceOption = None,
    browse_timeout: Annotated[float, typer.Option(help="Seconds to browse.")] = 1.0,
) -> None:
    """Browse Zeroconf once and print the just-in-time cloudlets found, one JSON line each."""
    with _clear_errors():
        addresses = resolve_interfaces(zeroconf_interface or [])
        if not addresses:
            raise ValueError("name at least one --zeroconf-interface")
        for cloudlet in asyncio.run(_browse(addresses, browse_timeout)):
            typer.echo(cloudlet.model_dump_json())


async def _browse(addresses: list[str], browse_timeout: float) -> list[Any]:
    async with ZeroconfDiscovery(addresses) as discovery:
        await asyncio.sleep(browse_timeout)
        return discovery.get_cloudlets()


def main() -> None:
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
