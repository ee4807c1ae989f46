"""Settings every service has, read from CLI flags > environment > YAML file > defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from common.service.limits import DEFAULT_MAX_BODY_BYTES
from common.service.server import LogFormat

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
Port = Annotated[int, Field(ge=0, le=65535)]


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
