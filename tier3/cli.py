"""`sinfonia-tier3`: the command line of the Tier-3 service."""

from __future__ import annotations

from common.service.cli import build_cli
from tier3.app import create_app
from tier3.settings import Tier3Settings

cli = build_cli(
    name="sinfonia-tier3",
    help_text="ST-3 device daemon: gets an app a backend on a nearby cloudlet and tunnels to it.",
    settings_class=Tier3Settings,
    create_app=create_app,
)


def main() -> None:
    cli()
