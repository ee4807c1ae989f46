"""The command line every service shares: option types, `--version`, and running `serve`."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from fastapi import FastAPI

from common import __version__
from common.service.server import LogFormat, configure_logging, serve
from common.service.settings import LogLevel, ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

# Typer reads signatures at run time, so this module keeps real (not postponed)
# annotations. Each tier's `serve` command lists these options, then its own.

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (flags and env win over it)."),
]
HostOption = Annotated[str | None, typer.Option(help="Address to bind.")]
PortOption = Annotated[int | None, typer.Option(help="TCP port to bind.")]
LogLevelOption = Annotated[LogLevel | None, typer.Option(help="Log level.")]
LogFormatOption = Annotated[LogFormat | None, typer.Option(help="plain or json.")]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"sinfonia {__version__}")
        raise typer.Exit


def new_cli(*, name: str, help_text: str) -> typer.Typer:
    """A Typer app with the eager `--version` option every service has."""
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

    return cli


def run_service(
    settings_class: type[SettingsT],
    create_app: Callable[[SettingsT], FastAPI],
    *,
    config: Path | None,
    **overrides: Any,
) -> None:
    """Build settings once (flags that were given win), set up logging, serve until stopped."""
    settings = settings_class.load(config, **overrides)
    configure_logging(settings.log_level, settings.log_format)
    serve(
        create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level
    )


def build_cli(
    *,
    name: str,
    help_text: str,
    settings_class: type[SettingsT],
    create_app: Callable[[SettingsT], FastAPI],
) -> typer.Typer:
    """A service CLI whose `serve` takes only the options every service has."""
    cli = new_cli(name=name, help_text=help_text)

    @cli.command("serve")
    def serve_command(
        config: ConfigOption = None,
        host: HostOption = None,
        port: PortOption = None,
        log_level: LogLevelOption = None,
        log_format: LogFormatOption = None,
    ) -> None:
        """Run the service's HTTP API until interrupted."""
        run_service(
            settings_class,
            create_app,
            config=config,
            host=host,
            port=port,
            log_level=log_level,
            log_format=log_format,
        )

    return cli
