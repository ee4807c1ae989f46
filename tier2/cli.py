"""`sinfonia-tier2`: the command line of the Tier-2 service."""

from __future__ import annotations

from common.service.cli import build_cli
from tier2.app import create_app
from tier2.settings import Tier2Settings

cli = build_cli(
    name="sinfonia-tier2",
    help_text="ST-2 cloudlet agent: deploys backends on its cluster and tunnels devices to them.",
    settings_class=Tier2Settings,
    create_app=create_app,
)


def main() -> None:
    cli()
