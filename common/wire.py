"""The base class of every wire message: tolerant of unknown fields, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A message between tiers.

    Unknown fields are ignored, because the tiers are upgraded separately and
    a newer peer may send more than this one knows. Instances are frozen so a
    message cannot change after it was validated.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)
