"""Settings of ST-1, from `SINFONIA_TIER1_*` variables (nested with `__`), a YAML file or flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from common.cloudlet import TrustLevel
from common.recipe import PluginSetting
from common.service.settings import Port, ServiceSettings
from common.types import IPNet, Seconds, WireGuardKey


class Section(BaseModel):
    """A nested group of settings; a key it does not know stops ST-1 at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TableSettings(Section):
    url: str = Field(
        default="memory://",
        description="`memory://` (one process) or `redis://host:port/db` (replicas share it).",
    )
    prefix: str = Field(default="sinfonia:tier1:", description="Key prefix in Redis.")
    socket_timeout: Seconds = Field(default=2.0, description="Per Redis call, in seconds.")
    nearest: Annotated[int, Field(ge=1, le=512)] = Field(
        default=16,
        description="Rows a selection cycle first takes from the geo index; it widens (up to"
        " 512) when filters leave fewer than 6.",
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://", "unix://")):
            raise ValueError("the table URL is memory:// or redis://host:port/db")
        return value


class KeepaliveSettings(Section):
    min_interval: Seconds = Field(default=1.0, description="Shortest interval granted, seconds.")
    max_interval: Seconds = Field(default=300.0, description="Longest interval granted, seconds.")
    ttl_multiplier: Annotated[float, Field(ge=1.5, le=100.0)] = Field(
        default=3.0, description="A row lives this many intervals past its last keepalive."
    )
    sweep_interval: Seconds = Field(default=1.0, description="How often expired rows are swept.")


class AllowedCloudlet(Section):
    public_key: WireGuardKey
    operator: str = Field(min_length=1, max_length=253)
    trust_level: TrustLevel = 50


class AdmissionSettings(Section):
    policy: Literal["open", "allowlist", "token"] = Field(
        default="open",
        description="open: any cloudlet; allowlist: listed keys only; token: a shared token.",
    )
    default_trust_level: TrustLevel = Field(
        default=0, description="Trust given to cloudlets admitted by the open or token policy."
    )
    allowlist: list[AllowedCloudlet] = Field(default_factory=list)
    token: SecretStr | None = Field(default=None, description="The shared registration token.")
    token_file: Path | None = Field(default=None, description="Read the token from this file.")
    accept_v1_updates: bool = Field(
        default=False,
        description="Accept unauthenticated v1 `POST /api/v1/cloudlets/` (open policy only).",
    )

    def shared_token(self) -> str | None:
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_file is not None:
            return self.token_file.read_text().strip()
        return None


class ClientSettings(Section):
    trusted_proxies: list[IPNet] = Field(
        default_factory=list,
        description="Peers whose X-ClientIP / X-Forwarded-For headers are believed.",
    )
    geoip_database: Path | None = Field(
        default=None, description="A MaxMind-format (.mmdb) city database for client locations."
    )


class RecipeSettings(Section):
    directory: Path | None = Field(
        default=None, description="Recipes as <app-uuid>.yaml files; none bundled otherwise."
    )
    url: AnyHttpUrl | None = Field(
        default=None, description="Fetch recipes from <url>/<app-uuid>.yaml instead."
    )
    fetch_timeout: Seconds = 5.0
    cache_ttl: Seconds = Field(default=60.0, description="How long a fetched recipe is reused.")


class ExternalSelectorSettings(Section):
    url: AnyHttpUrl
    timeout: Seconds = Field(default=0.5, description="After this, the built-in ranking is used.")


class SelectionSettings(Section):
    pipeline: list[PluginSetting] | None = Field(
        default=None, description="Default plugin list; None means the built-in default."
    )
    external: ExternalSelectorSettings | None = None
    seed: int | None = Field(default=None, description="Seed for tie-breaking, for tests.")


class DeploySettings(Section):
    connect_timeout: Seconds = 2.0
    cloudlet_timeout: Seconds = Field(default=30.0, description="Per ST-2 deploy call, seconds.")
    deadline: Seconds = Field(default=45.0, description="For a whole deploy request, seconds.")


class Tier1Settings(ServiceSettings):
    """ST-1 orchestrator: keeps the CloudletTable, selects cloudlets and asks them to deploy."""

    model_config = SettingsConfigDict(
        env_prefix="SINFONIA_TIER1_", extra="forbid", env_nested_delimiter="__"
    )

    port: Port = Field(default=5000, description="TCP port of the HTTP API; 0 picks a free one.")
    table: TableSettings = TableSettings()
    keepalive: KeepaliveSettings = KeepaliveSettings()
    admission: AdmissionSettings = AdmissionSettings()
    clients: ClientSettings = ClientSettings()
    recipes: RecipeSettings = RecipeSettings()
    selection: SelectionSettings = SelectionSettings()
    deploy: DeploySettings = DeploySettings()
    static_cloudlets: Path | None = Field(
        default=None, description="YAML file of cloudlets in the original multi-document format."
    )
    static_cloudlets_expire: bool = Field(
        default=False, description="Let static cloudlets expire like registered ones."
    )
