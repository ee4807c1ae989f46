"""Helpers the reliability tests share: problem assertions and bounded polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from common.problem import PROBLEM_MEDIA_TYPE

PROBLEM_PREFIX = "urn:sinfonia:problem:"


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and problem type, if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_PREFIX)
    assert body["title"]
    if slug is not None:
        assert body["type"] == PROBLEM_PREFIX + slug, body
    return body


def eventually(check: Callable[[], bool], *, seconds: float, interval: float = 0.1) -> float | None:
    """Poll `check` until true; the seconds it took, or None if `seconds` passed first.

    Exceptions from `check` count as "not yet" (the component may be down).
    """
    started = time.monotonic()
    deadline = started + seconds
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
