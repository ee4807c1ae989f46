"""Calls to the Kubernetes API: a timeout on each, bounded retries, one error translation.

Every call goes through the `kubernetes` client's `ApiClient` (authentication,
TLS, connection pool) on a small thread pool of its own, so a slow API server
cannot starve the event loop's default executor. Objects travel as plain
JSON dictionaries.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client import ApiClient

from common.errors import UnavailableError
from common.service.retry import Backoff, retry_async

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MERGE_PATCH = "application/merge-patch+json"


class KubeStatusError(Exception):
    """The API server answered with an error `Status`."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class _TransientError(Exception):
    """A failure worth another try: no connection, a timeout, an overloaded server."""


@dataclass(frozen=True, slots=True)
class CallPolicy:
    connect_timeout: float
    read_timeout: float
    attempts: int
    backoff: Backoff


class KubeApi:
    """Asynchronous JSON calls to one API server."""

    def __init__(self, api_client: ApiClient, policy: CallPolicy, *, workers: int = 16) -> None:
        self._client = api_client
        self._policy = policy
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube-api")
        self._rng = random.Random()  # noqa: S311 - jitter, not secrets

    async def get(self, path: str, *, query: Sequence[tuple[str, str]] = ()) -> JSON:
        return await self._call("GET", path, query=query)

    async def create(self, path: str, body: Mapping[str, Any]) -> JSON:
        return await self._call("POST", path, body=body)

    async def patch(self, path: str, body: Mapping[str, Any]) -> JSON:
        return await self._call("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def delete(self, path: str, *, body: Mapping[str, Any] | None = None) -> JSON:
        return await self._call("DELETE", path, body=body)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        self._client.close()  # type: ignore[no-untyped-call]

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        loop = asyncio.get_running_loop()
        blocking = functools.partial(self._blocking_call, method, path, query, body, content_type)
        try:
            return await retry_async(
                lambda: loop.run_in_executor(self._executor, blocking),
                attempts=self._policy.attempts,
                backoff=self._policy.backoff,
                retryable=lambda exc: isinstance(exc, _TransientError),
                what=f"{method} {path}",
                rng=self._rng,
            )
        except _TransientError as exc:
            raise UnavailableError(
                f"the Kubernetes API did not answer {method} {path}: {exc}"
            ) from exc

    def _blocking_call(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        body: Mapping[str, Any] | None,
        content_type: str,
    ) -> JSON:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self._client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params=headers,
            body=dict(body) if body is not None else None,
            auth_settings=["BearerToken"],
        )
        verb, url, header_params, payload, _ = serialized
        timeout = (self._policy.connect_timeout, self._policy.read_timeout)
        try:
            response = self._client.call_api(
                verb, url, header_params=header_params, body=payload, _request_timeout=timeout
            )
            raw = response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _TransientError(f"{type(exc).__name__}: {exc}") from exc
        document = _decode(raw)
        if 200 <= response.status < 300:
            return document
        reason = str(document.get("reason") or response.reason or "")
        message = str(document.get("message") or raw[:200].decode("utf-8", "replace"))
        if response.status in _RETRYABLE_STATUSES:
            raise _TransientError(f"{response.status} {reason}: {message}")
        raise KubeStatusError(response.status, reason, message)


def _decode(raw: bytes | None) -> JSON:
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
