"""`sinfonia-tier1`: the command line of the Tier-1 service."""

from __future__ import annotations

from common.service.cli import build_cli
from tier1.app import create_app
from tier1.settings import Tier1Settings

cli = build_cli(
    name="sinfonia-tier1",
    help_text="ST-1 orchestrator: keeps the CloudletTable, picks cloudlets, asks them to deploy.",
    settings_class=Tier1Settings,
    create_app=create_app,
)


def main() -> None:
    cli()
