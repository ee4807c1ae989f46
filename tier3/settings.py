"""Settings of the Tier-3 service, from `SINFONIA_TIER3_*` variables, a YAML file or flags."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.service.settings import Port, ServiceSettings


class Tier3Settings(ServiceSettings):
    """ST-3 device daemon: gets an app a backend on a nearby cloudlet and tunnels to it."""

    model_config = SettingsConfigDict(
        env_prefix="SINFONIA_TIER3_", extra="forbid", env_nested_delimiter="__"
    )

    # The device daemon serves only this device: it never binds beyond loopback by default.
    port: Port = Field(default=5002, description="TCP port of the HTTP API; 0 picks a free one.")
