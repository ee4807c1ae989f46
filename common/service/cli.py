"""The command line every service shares: `serve` and `--version`, built for one tier."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from fastapi import FastAPI

from common import __version__
from common.service.server import LogFormat, configure_logging, serve
from common.service.settings import LogLevel, ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

# Typer reads these signatures at run time, so this module keeps real (not
# postponed) annotations and defines nothing it needs inside a closure's scope.


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"sinfonia {__version__}")
        raise typer.Exit


def build_cli(
    *,
    name: str,
    help_text: str,
    settings_class: type[SettingsT],
    create_app: Callable[[SettingsT], FastAPI],
) -> typer.Typer:
    """A Typer app whose `serve` builds settings once, sets up logging and runs the service."""
    cli = typer.Typer(name=name, help=help_text, no_args_is_help=True, add_completion=False)

    @cli.callback()
    def main(
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                callback=_show_version,
                is_eager=True,
                help="Print the version and exit.",
            ),
        ] = False,
    ) -> None:
        """Sinfonia: cross-tier orchestration for edge-native applications."""

    @cli.command("serve")
    def serve_command(
        config: Annotated[
            Path | None,
            typer.Option("--config", "-c", help="YAML settings file (flags and env win over it)."),
        ] = None,
        host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
        port: Annotated[int | None, typer.Option(help="TCP port to bind.")] = None,
        log_level: Annotated[LogLevel | None, typer.Option(help="Log level.")] = None,
        log_format: Annotated[LogFormat | None, typer.Option(help="plain or json.")] = None,
    ) -> None:
        """Run the service's HTTP API until interrupted."""
        settings = settings_class.load(
            config, host=host, port=port, log_level=log_level, log_format=log_format
        )
        configure_logging(settings.log_level, settings.log_format)
        serve(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
        )

    return cli
