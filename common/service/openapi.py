"""Documents what every service answers on failure: an RFC 9457 problem, for every operation.

FastAPI documents only the success response and a 422 in its own shape; the
services answer every 4xx and 5xx (validation, limits, auth, routing, crashes)
with `application/problem+json`. This rewrites the generated document to say
so, so that clients and contract tests (schemathesis) check error bodies too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from common.problem import PROBLEM_MEDIA_TYPE, Problem

PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def install_problem_responses(app: FastAPI) -> None:
    """Make `app.openapi()` document problem bodies for every error status."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_problem_responses(document: dict[str, Any]) -> dict[str, Any]:
    """Add `Problem` to the components, and `4XX`/`5XX` problem responses to each operation.

    A documented 422 (FastAPI's own validation shape) becomes a problem too:
    that is what the services send.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _problem_response("The request did not match the schema.")
            responses.setdefault("4XX", _problem_response("The request was refused."))
            responses.setdefault("5XX", _problem_response("The service or a peer failed."))
    return document


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
    }
