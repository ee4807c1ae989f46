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
    number only: `true` or `"2"` is refused, as the OpenAPI document says,
    although Python would make 1 and 2 of them.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _number_fields(cls):
                value = data.get(name)
                if isinstance(value, bool | str):
                    raise ValueError(f"{name} must be a number, not {type(value).__name__}")
        return data


@functools.cache
def _number_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """Names (and aliases) of the fields typed int or float, optional or not."""
    names: list[str] = []
    for name, field in cls.model_fields.items():
        annotation = field.annotation
        members = (
            get_args(annotation)
            if get_origin(annotation) in (Union, types.UnionType)
            else (annotation,)
        )
        bare = [get_args(m)[0] if get_origin(m) is Annotated else m for m in members]
        if any(member in (int, float) for member in bare):
            names.append(name)
            if field.alias and field.alias != name:
                names.append(field.alias)
    return tuple(names)
