"""The base of every plugin's arguments model: unknown keys fail when the pipeline is built."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PluginArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(PluginArgs):
    """For plugins that take no arguments."""
