"""Turns every error a service raises into an `application/problem+json` response."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from common.errors import (
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RequestValidationFailedError,
    SinfoniaError,
    UnauthorizedError,
)
from common.problem import PROBLEM_MEDIA_TYPE, FieldError, Problem, problem_type

logger = logging.getLogger(__name__)

_MAX_FIELD_ERRORS = 50


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE

    def __init__(self, problem: Problem, headers: dict[str, str] | None = None) -> None:
        super().__init__(problem.to_json_dict(), status_code=problem.status, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Map Sinfonia errors, validation errors, routing errors and crashes to problem bodies."""
    app.add_exception_handler(SinfoniaError, _sinfonia_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _sinfonia_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, SinfoniaError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
    return ProblemResponse(exc.to_problem(instance=request.url.path), headers=headers)


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(error) for error in exc.errors()[:_MAX_FIELD_ERRORS]]
    error = RequestValidationFailedError(errors, _summarise(errors))
    return ProblemResponse(error.to_problem(instance=request.url.path))


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    """Routing errors (unknown path, wrong method) raised by Starlette itself."""
    assert isinstance(exc, StarletteHTTPException)
    by_status: dict[int, type[SinfoniaError]] = {
        400: InvalidRequestError,
        401: UnauthorizedError,
        403: ForbiddenError,
        404: NotFoundError,
    }
    known = by_status.get(exc.status_code)
    if known is not None:
        return ProblemResponse(known(str(exc.detail)).to_problem(instance=request.url.path))
    problem = Problem(
        type=problem_type(f"http-{exc.status_code}"),
        title=str(exc.detail),
        status=exc.status_code if 400 <= exc.status_code <= 599 else 500,
        instance=request.url.path,
    )
    return ProblemResponse(problem, headers=dict(exc.headers) if exc.headers else None)


async def _unexpected_error(request: Request, exc: Exception) -> ProblemResponse:
    """The last resort: log the crash, tell the client nothing of its insides."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return ProblemResponse(SinfoniaError().to_problem(instance=request.url.path))


def _field_error(error: Any) -> FieldError:
    return FieldError(
        loc=[part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
        msg=str(error.get("msg", "invalid")),
        type=str(error.get("type", "value_error")),
    )


def _summarise(errors: list[FieldError]) -> str:
    if not errors:
        return "the request did not match the schema"
    first = errors[0]
    where = ".".join(str(part) for part in first.loc)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.msg}{more}"
