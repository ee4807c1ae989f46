"""`sinfonia-tier2`: the command line of the Tier-2 service (`serve`, `identity`)."""

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from common.service.cli import (
    ConfigOption,
    HostOption,
    LogFormatOption,
    LogLevelOption,
    PortOption,
    new_cli,
    run_service,
)
from tier2.app import create_app
from tier2.identity import load_identity
from tier2.settings import DriverKind, Tier2Settings, TunnelMode

# Typer reads these signatures at run time, so this module keeps real (not
# postponed) annotations.

cli = new_cli(
    name="sinfonia-tier2",
    help_text="ST-2 cloudlet agent: deploys backends on its cluster and tunnels devices to them.",
)


@cli.command("serve")
def serve_command(
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
    api_url: Annotated[
        str | None, typer.Option(help="Base URL ST-1s and devices use to reach this API.")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Directory with the cloudlet UUID and WireGuard key.")
    ] = None,
    driver: Annotated[DriverKind | None, typer.Option(help="local or kubernetes.")] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig for the kubernetes driver.")
    ] = None,
    tier1: Annotated[
        list[str] | None,
        typer.Option("--tier1", help="ST-1 URL to register with (repeat; replaces the file's)."),
    ] = None,
    recipes: Annotated[
        Path | None, typer.Option(help="Directory of recipes for JIT and v1 deploys.")
    ] = None,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Prometheus for load figures (else /proc).")
    ] = None,
    tunnel_mode: Annotated[
        TunnelMode | None, typer.Option(help="none, managed or external.")
    ] = None,
    jit: Annotated[
        bool | None, typer.Option("--jit/--no-jit", help="Take deploys from local networks.")
    ] = None,
    zeroconf: Annotated[
        bool | None,
        typer.Option("--zeroconf/--no-zeroconf", help="Announce _sinfonia._tcp.local."),
    ] = None,
    zeroconf_interface: Annotated[
        list[str] | None,
        typer.Option("--zeroconf-interface", help="Interface name or IPv4 address (repeat)."),
    ] = None,
) -> None:
    """Run the cloudlet agent until interrupted."""
    # httpx logs every request at INFO (readiness probes of local backends): too chatty.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    run_service(
        Tier2Settings,
        create_app,
        config=config,
        **flag_overrides(
            host=host,
            port=port,
            log_level=log_level,
            log_format=log_format,
            api_url=api_url,
            state_dir=state_dir,
            driver=driver,
            recipes_dir=recipes,
            jit=jit,
            kubeconfig=kubeconfig,
            prometheus_url=prometheus_url,
            tunnel_mode=tunnel_mode,
            zeroconf=zeroconf,
            zeroconf_interfaces=zeroconf_interface,
            tier1=tier1,
        ),
    )


def flag_overrides(
    *,
    kubeconfig: Path | None = None,
    prometheus_url: str | None = None,
    tunnel_mode: TunnelMode | None = None,
    zeroconf: bool | None = None,
    zeroconf_interfaces: list[str] | None = None,
    tier1: list[str] | None = None,
    **flags: Any,
) -> dict[str, Any]:
    """Settings overrides from the flags given (None: not given).

    Flags inside a section (`--kubeconfig`) merge into that section of the file;
    `--tier1` replaces the file's list of ST-1s.
    """
    overrides: dict[str, Any] = {key: value for key, value in flags.items() if value is not None}
    nested: dict[str, dict[str, Any]] = {
        "kubernetes": {"kubeconfig": kubeconfig},
        "metrics": {"prometheus_url": prometheus_url},
        "tunnel": {"mode": tunnel_mode},
        "zeroconf": {"enabled": zeroconf, "interfaces": zeroconf_interfaces or None},
    }
    for section, values in nested.items():
        given = {key: value for key, value in values.items() if value is not None}
        if given:
            overrides[section] = given
    if tier1:
        overrides["tier1"] = [{"url": url} for url in tier1]
    return overrides


def settings_from_flags(config: Path | None, **flags: Any) -> Tier2Settings:
    """Settings from the file, the environment and the flags given, as `serve` builds them."""
    return Tier2Settings.load(config, **flag_overrides(**flags))


@cli.command("identity")
def identity_command(
    config: ConfigOption = None,
    state_dir: Annotated[Path | None, typer.Option(help="Directory with the identity.")] = None,
) -> None:
    """Print this cloudlet's UUID and WireGuard public key (creating them on first use)."""
    settings = Tier2Settings.load(config, state_dir=state_dir)
    identity = load_identity(settings.state_dir)
    typer.echo(f"uuid: {identity.uuid}\npublic_key: {identity.public_key}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
