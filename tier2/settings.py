"""Settings of the Tier-2 service, from `SINFONIA_TIER2_*` variables, a YAML file or flags."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.service.settings import Port, ServiceSettings


class Tier2Settings(ServiceSettings):
    """ST-2 cloudlet agent: deploys backends on its cluster and tunnels devices to them."""

    model_config = SettingsConfigDict(
        env_prefix="SINFONIA_TIER2_", extra="forbid", env_nested_delimiter="__"
    )

    port: Port = Field(default=5001, description="TCP port of the HTTP API; 0 picks a free one.")
