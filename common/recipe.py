"""Recipes: how to run an app's backend on a cloudlet, what it needs, and how to choose one.

ST-1 loads recipes from files (unknown keys there are an error, see
`unknown_fields`) and passes them to ST-2 with each deploy request; on the
wire, unknown keys from a newer ST-1 are kept and passed along.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.cloudlet import TrustLevel
from common.types import AppId, Name, NonNegative, Seconds

_RECIPE_CONFIG = ConfigDict(extra="allow", frozen=True)

ParameterValue = str | int | float | bool


class QoEClass(enum.StrEnum):
    """How the app's users feel latency, for scoring plugins."""

    INTERACTIVE = "interactive"
    STREAMING = "streaming"
    BATCH = "batch"


class Requirements(BaseModel):
    """What a cloudlet must have to run the backend."""

    model_config = _RECIPE_CONFIG

    cpu_cores: NonNegative = 0.0
    memory_bytes: Annotated[int, Field(ge=0)] = 0
    gpu: bool = False
    gpu_models: Annotated[list[Name], Field(max_length=32)] = Field(
        default_factory=list, description="Any of these GPU models will do; empty means any GPU."
    )
    min_trust: TrustLevel = 0
    max_rtt_seconds: Seconds | None = Field(
        default=None, description="Drop cloudlets whose estimated RTT to the client is larger."
    )


class PluginSetting(BaseModel):
    """One selection plugin enabled for this recipe, as the scheduler framework configures it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    weight: Annotated[int, Field(ge=0, le=100)] = 1
    args: dict[str, Any] = Field(default_factory=dict)


class SelectionPreferences(BaseModel):
    """How to rank the cloudlets that can run the backend."""

    model_config = _RECIPE_CONFIG

    qoe_class: QoEClass = QoEClass.INTERACTIVE
    preferred_operators: Annotated[list[Name], Field(max_length=64)] = Field(default_factory=list)
    pipeline: Annotated[list[PluginSetting], Field(max_length=64)] | None = Field(
        default=None, description="Replaces ST-1's default selection pipeline for this app."
    )


class KubernetesSpec(BaseModel):
    """Kubernetes objects to create in the deployment's namespace, with `${name}` parameters."""

    model_config = _RECIPE_CONFIG

    manifests: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=256)]
    parameters: dict[Name, ParameterValue] = Field(default_factory=dict)


class HelmSpec(BaseModel):
    """A Helm chart, where the cloudlet has a helm binary configured."""

    model_config = _RECIPE_CONFIG

    chart: Name
    version: Annotated[str, Field(min_length=1, max_length=128)]
    repository: Annotated[str, Field(max_length=2048)] | None = None
    values: dict[str, Any] = Field(default_factory=dict)


class LocalSpec(BaseModel):
    """A command the embedded local driver runs as a supervised process.

    The command gets the port to listen on in `$PORT`; `${port}` in an
    argument is replaced with it too.
    """

    model_config = _RECIPE_CONFIG

    command: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(min_length=1)]
    environment: dict[Name, str] = Field(default_factory=dict)
    ready_path: Annotated[str, Field(pattern=r"^/", max_length=1024)] | None = Field(
        default=None, description="HTTP path that answers 2xx once the backend is ready."
    )


class Recipe(BaseModel):
    """Everything Sinfonia knows about one app's backend."""

    model_config = _RECIPE_CONFIG

    uuid: AppId
    name: Name
    description: Annotated[str, Field(max_length=4096)] = ""
    restricted: bool = Field(
        default=False, description="Hide the recipe from `GET /api/v1/recipe/{uuid}/` (403)."
    )
    requirements: Requirements = Requirements()
    selection: SelectionPreferences = SelectionPreferences()
    kubernetes: KubernetesSpec | None = None
    helm: HelmSpec | None = None
    local: LocalSpec | None = None
    lease_seconds: Seconds = Field(
        default=300.0, description="How long a deployment lives without being used or renewed."
    )

    @model_validator(mode="after")
    def _has_a_way_to_run(self) -> Recipe:
        if self.kubernetes is None and self.helm is None and self.local is None:
            raise ValueError("a recipe needs at least one of 'kubernetes', 'helm' or 'local'")
        return self


def unknown_fields(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of every key in `model` (and nested models) that its schema does not know.

    Recipes are read with unknown keys kept so that a newer ST-1 can send
    fields an older ST-2 passes over; a recipe *file* with one is a typo, and
    the loader refuses it with these paths.
    """
    found = [f"{prefix}{key}" for key in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            if isinstance(item, BaseModel):
                where = f"{prefix}{name}." if item is value else f"{prefix}{name}[{index}]."
                found.extend(unknown_fields(item, where))
    return found
