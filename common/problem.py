"""Problem details (RFC 9457): the body of every error response, in every tier."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:sinfonia:problem:"


def problem_type(slug: str) -> str:
    """The stable `type` URI of a Sinfonia problem, e.g. `urn:sinfonia:problem:not-found`."""
    return PROBLEM_TYPE_PREFIX + slug


class FieldError(BaseModel):
    """One thing wrong with the request, and where."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document.

    Extension members are kept (`extra="allow"`): Sinfonia adds `retryable`,
    `errors` (field errors of a 422) and `reasons` (why no cloudlet fitted).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Annotated[str, Field(max_length=2048)] = "about:blank"
    title: Annotated[str, Field(max_length=1024)]
    status: Annotated[int, Field(ge=400, le=599)]
    detail: Annotated[str, Field(max_length=65536)] | None = None
    instance: Annotated[str, Field(max_length=2048)] | None = None
    retryable: bool = False
    errors: list[FieldError] | None = None
    reasons: dict[str, list[str]] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON body, without absent members."""
        return self.model_dump(mode="json", exclude_none=True)
