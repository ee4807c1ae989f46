"""The base class of every wire message: tolerant of unknown fields, immutable, JSON-typed."""

from __future__ import annotations

import functools
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator


class WireModel(BaseModel):
    """A message between tiers.

    Unknown fields are ignored, because the tiers are upgraded separately and
    a newer peer may send more than this one knows. Instances are frozen so a
    message cannot change after it was validated. A number field takes a JSON
    number and a boolean field a JSON boolean, as the OpenAPI document says:
    `true`, `"2"` or `0.0` are refused although Python would make 1, 2 and
    False of them.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _json_types(cls, data: Any) -> Any:
        if isinstance(data, dict):
            numbers, booleans = _typed_fields(cls)
            for name in numbers:
                value = data.get(name)
                if isinstance(value, bool | str):
                    raise ValueError(f"{name} must be a number, not {type(value).__name__}")
            for name in booleans:
                value = data.get(name)
                if value is not None and not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false, not {type(value).__name__}")
        return data


@functools.cache
def _typed_fields(cls: type[BaseModel]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names (and aliases) of the fields typed int or float, and of those typed bool."""
    numbers: list[str] = []
    booleans: list[str] = []
    for name, field in cls.model_fields.items():
        annotation = field.annotation
        members = (
            get_args(annotation)
            if get_origin(annotation) in (Union, types.UnionType)
            else (annotation,)
        )
        bare = {get_args(m)[0] if get_origin(m) is Annotated else m for m in members}
        found = numbers if bare & {int, float} else booleans if bool in bare else None
        if found is not None:
            found.append(name)
            if field.alias and field.alias != name:
                found.append(field.alias)
    return tuple(numbers), tuple(booleans)
