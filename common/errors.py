"""Sinfonia's one exception tree; each class knows its HTTP status and problem type.

    SinfoniaError                         500 internal
    ├── InvalidRequestError               400 invalid-request
    │   └── RequestValidationFailedError  422 validation-failed
    ├── UnauthorizedError                 401 unauthorized
    ├── ForbiddenError                    403 forbidden
    ├── NotFoundError                     404 not-found
    │   ├── RecipeNotFoundError           404 recipe-not-found
    │   ├── CloudletNotFoundError         404 cloudlet-not-found
    │   └── DeploymentNotFoundError       404 deployment-not-found
    ├── ConflictError                     409 conflict
    ├── PayloadTooLargeError              413 payload-too-large
    ├── TooManyRequestsError              429 too-many-requests      (retryable, Retry-After)
    ├── RequestHeadersTooLargeError       431 headers-too-large
    ├── UnavailableError                  503 unavailable            (retryable)
    │   └── NoEligibleCloudletError       503 no-eligible-cloudlet   (retryable, carries reasons)
    └── UpstreamError                     502 upstream               (retryable)
        ├── UpstreamTimeoutError          504 upstream-timeout       (retryable)
        └── UpstreamRejectedError         502 upstream-rejected      (wraps the peer's problem)

Domain code raises these; each service turns them into `application/problem+json`
at one boundary, and clients turn a problem body back into the same class with
`error_from_problem`, so an error keeps its identity across tiers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from common.problem import FieldError, Problem, problem_type


class SinfoniaError(Exception):
    """Base of every error Sinfonia raises on purpose."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail

    @classmethod
    def problem_type(cls) -> str:
        return problem_type(cls.slug)

    def problem_extensions(self) -> dict[str, Any]:
        """Extension members this error adds to its problem body."""
        return {}

    def to_problem(self, instance: str | None = None) -> Problem:
        return Problem(
            type=self.problem_type(),
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            retryable=self.retryable,
            **self.problem_extensions(),
        )


class InvalidRequestError(SinfoniaError):
    status = 400
    slug = "invalid-request"
    title = "Invalid request"


class RequestValidationFailedError(InvalidRequestError):
    """The request did not match the schema; `errors` says where."""

    status = 422
    slug = "validation-failed"
    title = "Request validation failed"

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        super().__init__(detail or f"{len(errors)} field(s) failed validation")
        self.errors = list(errors)

    def problem_extensions(self) -> dict[str, Any]:
        return {"errors": self.errors}


class UnauthorizedError(SinfoniaError):
    status = 401
    slug = "unauthorized"
    title = "Missing or invalid credential"


class ForbiddenError(SinfoniaError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFoundError(SinfoniaError):
    status = 404
    slug = "not-found"
    title = "Not found"


class RecipeNotFoundError(NotFoundError):
    slug = "recipe-not-found"
    title = "No recipe for this application"


class CloudletNotFoundError(NotFoundError):
    slug = "cloudlet-not-found"
    title = "Unknown cloudlet"


class DeploymentNotFoundError(NotFoundError):
    slug = "deployment-not-found"
    title = "No such deployment"


class ConflictError(SinfoniaError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PayloadTooLargeError(SinfoniaError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class TooManyRequestsError(SinfoniaError):
    """A client sent more than its share; `retry_after` says when it may try again."""

    status = 429
    slug = "too-many-requests"
    title = "Too many requests"
    retryable = True

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class RequestHeadersTooLargeError(SinfoniaError):
    status = 431
    slug = "headers-too-large"
    title = "Request header fields too large"


class UnavailableError(SinfoniaError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"
    retryable = True


class NoEligibleCloudletError(UnavailableError):
    """Selection found no cloudlet; `reasons` maps each cause to what it dropped."""

    slug = "no-eligible-cloudlet"
    title = "No cloudlet can serve this request"

    def __init__(
        self, detail: str | None = None, reasons: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.reasons = {key: list(value) for key, value in (reasons or {}).items()}

    def problem_extensions(self) -> dict[str, Any]:
        return {"reasons": self.reasons}


class UpstreamError(SinfoniaError):
    """A peer tier failed us."""

    status = 502
    slug = "upstream"
    title = "A peer service failed"
    retryable = True


class UpstreamTimeoutError(UpstreamError):
    status = 504
    slug = "upstream-timeout"
    title = "A peer service did not answer in time"


class UpstreamRejectedError(UpstreamError):
    """A peer answered with a problem of its own; `upstream` holds it unchanged."""

    slug = "upstream-rejected"
    title = "A peer service refused the request"

    def __init__(self, upstream: Problem, detail: str | None = None) -> None:
        super().__init__(detail or f"{upstream.title} ({upstream.status})")
        self.upstream = upstream

    def problem_extensions(self) -> dict[str, Any]:
        return {"upstream": self.upstream.to_json_dict()}


def _all_subclasses(cls: type[SinfoniaError]) -> list[type[SinfoniaError]]:
    found: list[type[SinfoniaError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


_BY_TYPE: dict[str, type[SinfoniaError]] = {
    cls.problem_type(): cls for cls in _all_subclasses(SinfoniaError)
}

_BY_STATUS: dict[int, type[SinfoniaError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: RequestValidationFailedError,
    429: TooManyRequestsError,
    431: RequestHeadersTooLargeError,
    502: UpstreamError,
    503: UnavailableError,
    504: UpstreamTimeoutError,
}


def error_from_problem(problem: Problem) -> SinfoniaError:
    """Rebuild the exception a peer raised from the problem body it sent.

    A problem type this version does not know falls back to the class for its
    status, then to `SinfoniaError`.
    """
    cls = _BY_TYPE.get(problem.type) or _BY_STATUS.get(problem.status, SinfoniaError)
    error: SinfoniaError
    if issubclass(cls, RequestValidationFailedError):
        error = cls(problem.errors or [], problem.detail)
    elif issubclass(cls, NoEligibleCloudletError):
        error = cls(problem.detail, problem.reasons)
    elif issubclass(cls, UpstreamRejectedError):
        upstream = (problem.model_extra or {}).get("upstream")
        error = cls(Problem.model_validate(upstream) if upstream else problem, problem.detail)
    else:
        error = cls(problem.detail)
    return error
