"""`sinfonia-tier1`: run ST-1, optionally with a Redis table, recipes and static cloudlets."""

from pathlib import Path
from typing import Annotated

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
from tier1.app import create_app
from tier1.settings import Tier1Settings

cli = new_cli(
    name="sinfonia-tier1",
    help_text="ST-1 orchestrator: keeps the CloudletTable, picks cloudlets, asks them to deploy.",
)


@cli.command("serve")
def serve_command(
    config: ConfigOption = None,
    host: HostOption = None,
    port: PortOption = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
    table: Annotated[
        str | None, typer.Option(help="CloudletTable: memory:// or redis://host:port/db.")
    ] = None,
    recipes: Annotated[
        Path | None, typer.Option(help="Directory of <app-uuid>.yaml recipes.")
    ] = None,
    static_cloudlets: Annotated[
        Path | None, typer.Option(help="YAML file of cloudlets (the original's format).")
    ] = None,
) -> None:
    """Run ST-1's HTTP API until interrupted."""
    run_service(
        Tier1Settings,
        create_app,
        config=config,
        host=host,
        port=port,
        log_level=log_level,
        log_format=log_format,
        table=None if table is None else {"url": table},
        recipes=None if recipes is None else {"directory": recipes},
        static_cloudlets=static_cloudlets,
    )


def main() -> None:
    cli()
