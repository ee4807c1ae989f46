"""Settings of the Tier-1 service, from `SINFONIA_TIER1_*` variables, a YAML file or flags."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.service.settings import Port, ServiceSettings


class Tier1Settings(ServiceSettings):
    """ST-1 orchestrator: keeps the CloudletTable, selects cloudlets and asks them to deploy."""

    model_config = SettingsConfigDict(
        env_prefix="SINFONIA_TIER1_", extra="forbid", env_nested_delimiter="__"
    )

    port: Port = Field(default=5000, description="TCP port of the HTTP API; 0 picks a free one.")
