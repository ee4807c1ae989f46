"""Settings every service has, read from CLI flags > environment > YAML file > defaults."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from common.service.limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES
from common.service.ratelimit import RateLimit
from common.service.server import LogFormat
from common.types import IPNet, IPNetwork

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
Port = Annotated[int, Field(ge=0, le=65535)]


def _loopback() -> list[IPNetwork]:
    return [ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv6Network("::1/128")]


class RateLimitSettings(BaseModel):
    """The per-client rate limit: a token bucket per client address, answering 429 when empty.

    On by default for the public services with a generous budget: a real
    device or cloudlet sends a few requests a minute, but many devices can
    share one address behind a carrier-grade NAT. Loopback is exempt by
    default: a peer on the same host (a local proxy that is not declared
    trusted, the operator's tools) is not an anonymous client.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Apply the limit at all.")
    requests_per_second: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = Field(
        default=100.0, description="Sustained requests a second one client may send."
    )
    burst: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=200, description="Requests one client may send at once before the rate applies."
    )
    max_clients: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=10_000,
        description="Clients tracked at once (about 100 bytes each); the longest idle go first.",
    )
    exempt_networks: list[IPNet] = Field(
        default_factory=_loopback, description="Clients in these networks are never limited."
    )
    ipv6_prefix_length: Annotated[int, Field(ge=1, le=128)] = Field(
        default=64, description="IPv6 clients share a bucket per prefix of this length."
    )

    def build(self, trusted_proxies: list[IPNetwork] | None = None) -> RateLimit | None:
        """The limit to install, or None when it is off."""
        if not self.enabled:
            return None
        return RateLimit(
            requests_per_second=self.requests_per_second,
            burst=self.burst,
            max_clients=self.max_clients,
            exempt_networks=tuple(self.exempt_networks),
            trusted_proxies=tuple(trusted_proxies or ()),
            ipv6_prefix_length=self.ipv6_prefix_length,
        )


class ServiceSettings(BaseSettings):
    """Base of each tier's settings; a tier subclass sets `env_prefix` and adds its own fields.

    Unknown keys fail at start (`extra="forbid"`), so a typo in a config file
    fails at start instead of being ignored.
    """

    model_config = SettingsConfigDict(extra="forbid", env_nested_delimiter="__")

    host: str = Field(default="127.0.0.1", description="Address the HTTP API binds to.")
    port: Port = Field(default=8000, description="TCP port of the HTTP API; 0 picks a free one.")
    log_level: LogLevel = Field(default="info", description="Least severe level that is logged.")
    log_format: LogFormat = Field(
        default=LogFormat.PLAIN, description="`plain` for people, `json` for log shippers."
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        description="Largest request body accepted, in bytes; larger ones get a 413 problem.",
    )
    max_header_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = Field(
        default=DEFAULT_MAX_HEADER_BYTES,
        description="Largest total of request header fields, in bytes; more gets a 431 problem.",
    )
    rate_limit: RateLimitSettings = Field(
        default_factory=RateLimitSettings, description="Per-client rate limit (429 when over)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            YamlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Self:
        """Build settings; `overrides` (CLI flags that were given) beat everything else."""
        given = {key: value for key, value in overrides.items() if value is not None}
        if config_file is None:
            return cls(**given)
        if not config_file.is_file():
            raise FileNotFoundError(f"config file {config_file} does not exist")
        config = SettingsConfigDict(**{**cls.model_config, "yaml_file": config_file})
        bound = type(cls.__name__, (cls,), {"model_config": config, "__module__": cls.__module__})
        return bound(**given)  # type: ignore[no-any-return]
