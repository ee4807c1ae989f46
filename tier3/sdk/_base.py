"""The SDK without I/O: what request each call makes to the daemon, and how each answer is read."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from common.errors import RequestValidationFailedError, SinfoniaError, UpstreamError
from common.problem import PROBLEM_MEDIA_TYPE, FieldError, Problem
from tier3.errors import tier3_error_from_problem
from tier3.schema import (
    Backend,
    DeployBackendRequest,
    JitCloudlet,
    Strategy,
    Tier1Api,
)

T = TypeVar("T")

DEFAULT_DAEMON_URL = "http://127.0.0.1:5002"
#: Host header used over a Unix socket; the daemon answers only to loopback names.
UNIX_SOCKET_URL = "http://localhost"
#: Seconds to connect to the daemon: it is local, so a slow connect means it is not there.
CONNECT_TIMEOUT = 2.0
#: Seconds a deploy may take: ST-1 waits for cloudlets, then the tunnel comes up.
DEPLOY_TIMEOUT = 120.0
#: Extra seconds granted on top of a long poll's own wait.
WAIT_MARGIN = 5.0

ALIASES: Mapping[str, uuid.UUID] = {"helloworld": uuid.UUID(int=0)}
"""App names that stand for a UUID, as in the original Sinfonia (`helloworld` is all zeros)."""


def parse_app(app: uuid.UUID | str) -> uuid.UUID:
    """An app UUID from a UUID, its text, or an alias such as `helloworld`."""
    if isinstance(app, uuid.UUID):
        return app
    alias = ALIASES.get(app.strip().lower())
    if alias is not None:
        return alias
    try:
        return uuid.UUID(app)
    except ValueError as exc:
        raise ValueError(f"{app!r} is not an app UUID nor a known alias") from exc


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to the daemon."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    read_timeout: float | None = None


def build_deploy_request(
    tier1_url: str | None,
    app: uuid.UUID | str,
    *,
    strategy: Strategy | str | None = None,
    results: int | None = None,
    discover: bool | None = None,
    static_scoping: bool | None = None,
    tier1_api: Tier1Api | str | None = None,
) -> DeployBackendRequest:
    """The deploy request; bad arguments raise `common.errors.RequestValidationFailedError`."""
    try:
        return DeployBackendRequest.model_validate(
            {
                "app": parse_app(app),
                "tier1_url": tier1_url,
                "strategy": strategy,
                "results": results,
                "discover": discover,
                "static_scoping": static_scoping,
                "tier1_api": tier1_api,
            }
        )
    except ValidationError as exc:
        errors = [
            FieldError(
                loc=[str(part) for part in error["loc"]], msg=error["msg"], type=error["type"]
            )
            for error in exc.errors()
        ]
        raise RequestValidationFailedError(errors) from exc


def build_deploy(request: DeployBackendRequest) -> Call:
    return Call("POST", "/api/v2/backends", json=request.model_dump(mode="json", exclude_none=True))


def build_list_backends() -> Call:
    return Call("GET", "/api/v2/backends")


def build_get_backend(app: uuid.UUID | str) -> Call:
    return Call("GET", f"/api/v2/backends/{parse_app(app)}")


def build_wait_for_backend(app: uuid.UUID | str, *, after: int, wait_timeout: float) -> Call:
    return Call(
        "GET",
        f"/api/v2/backends/{parse_app(app)}",
        params={"after": str(after), "wait": f"{wait_timeout:g}"},
        read_timeout=wait_timeout + WAIT_MARGIN,
    )


def build_release_backend(app: uuid.UUID | str) -> Call:
    return Call("DELETE", f"/api/v2/backends/{parse_app(app)}")


def build_list_cloudlets() -> Call:
    return Call("GET", "/api/v2/cloudlets")


_BACKEND = TypeAdapter(Backend)
_BACKENDS = TypeAdapter(list[Backend])
_CLOUDLETS = TypeAdapter(list[JitCloudlet])


def parse_backend(status: int, content_type: str, content: bytes) -> Backend:
    return _parse(_BACKEND, status, content_type, content)


def parse_backends(status: int, content_type: str, content: bytes) -> list[Backend]:
    return _parse(_BACKENDS, status, content_type, content)


def parse_cloudlets(status: int, content_type: str, content: bytes) -> list[JitCloudlet]:
    return _parse(_CLOUDLETS, status, content_type, content)


def parse_empty(status: int, content_type: str, content: bytes) -> None:
    raise_for_problem(status, content_type, content)


def raise_for_problem(status: int, content_type: str, content: bytes) -> None:
    """Raise the typed error a failed answer carries; do nothing for a success."""
    if 200 <= status < 300:
        return
    media_type = content_type.split(";")[0].strip().lower()
    problem: Problem | None = None
    if media_type in {PROBLEM_MEDIA_TYPE, "application/json"}:
        try:
            problem = Problem.model_validate_json(content)
        except ValidationError:
            problem = None
    if problem is None:
        raise UpstreamError(f"the Tier-3 daemon answered {status} without a problem body")
    raise tier3_error_from_problem(problem)


def _parse(adapter: TypeAdapter[T], status: int, content_type: str, content: bytes) -> T:
    raise_for_problem(status, content_type, content)
    try:
        return adapter.validate_json(content)
    except ValidationError as exc:
        raise SinfoniaError(f"the Tier-3 daemon sent an answer the SDK cannot read: {exc}") from exc
