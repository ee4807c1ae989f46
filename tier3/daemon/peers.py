"""Calls to ST-1 (native v2 or the original v1 API) and to ST-2s, errors translated at one place."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from common.deployment import (
    CloudletDeployRequest,
    Deployment,
    DeployRequest,
    DeployResponse,
)
from common.device import DeviceContext
from common.errors import (
    NoEligibleCloudletError,
    NotFoundError,
    RecipeNotFoundError,
    SinfoniaError,
    UnavailableError,
    UpstreamError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
    error_from_problem,
)
from common.keys import urlsafe_key
from common.problem import PROBLEM_MEDIA_TYPE, Problem
from common.types import AppId, CloudletId
from common.v1 import CloudletDeploymentV1
from tier3.errors import PeerUnreachableError, Tier1UnreachableError
from tier3.schema import Tier1Api

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Pauses before the 2nd, 3rd, ... connect attempt; each is stretched by up to 25% jitter.
CONNECT_BACKOFF = (0.1, 0.4, 1.0, 2.0)

_V1_LIST = TypeAdapter(list[CloudletDeploymentV1])

# Problems ST-1 sends that an app developer can act on keep their identity; the
# rest mean "ST-1 refused what ST-3 sent" and are wrapped as upstream-rejected.
_PASS_THROUGH: tuple[type[SinfoniaError], ...] = (
    NoEligibleCloudletError,
    RecipeNotFoundError,
    UnavailableError,
    UpstreamError,
)


def build_http_client(*, connect_timeout: float, read_timeout: float) -> httpx.AsyncClient:
    """The one HTTP client of an ST-3 process: explicit timeouts and connection limits.

    Proxy variables from the environment are ignored: ST-3 talks to ST-1 and to
    cloudlets on the local network directly.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30),
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": "sinfonia-tier3"},
    )


def join_url(base: str, *parts: str) -> str:
    return base.rstrip("/") + "/" + "/".join(part.strip("/") for part in parts)


class Peers:
    """ST-3's outbound calls. Every call has a timeout; only failed connects are retried."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        deploy_timeout: float,
        jit_deploy_timeout: float,
        release_timeout: float,
        connect_attempts: int,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.deploy_timeout = deploy_timeout
        self.jit_deploy_timeout = jit_deploy_timeout
        self.release_timeout = release_timeout
        self.connect_attempts = connect_attempts
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._sleep = sleep

    # --- ST-1 -------------------------------------------------------------------------------

    async def fetch_tier1_deployments(
        self,
        tier1_url: str,
        *,
        app: AppId,
        public_key: str,
        device: DeviceContext,
        results: int,
        api: Tier1Api,
    ) -> list[Deployment]:
        """Ask ST-1 for up to `results` deployments, best first."""
        if api is Tier1Api.V1:
            return await self._fetch_tier1_v1(
                tier1_url, app=app, public_key=public_key, device=device, results=results
            )
        body = DeployRequest(app=app, client_public_key=public_key, device=device, results=results)
        url = join_url(tier1_url, "api/v2/deploy")
        response = await self._send_tier1(
            "POST", url, json=body.model_dump(mode="json"), request_timeout=self.deploy_timeout
        )
        self._raise_for_problem(response, "ST-1", tier1=True)
        parsed = _parse(response, DeployResponse, "ST-1")
        return list(parsed.deployments)

    async def _fetch_tier1_v1(
        self,
        tier1_url: str,
        *,
        app: AppId,
        public_key: str,
        device: DeviceContext,
        results: int,
    ) -> list[Deployment]:
        url = join_url(tier1_url, "api/v1/deploy", str(app), urlsafe_key(public_key))
        headers = {}
        if device.location is not None:
            latitude, longitude = device.location.as_pair()
            headers["X-Location"] = f"{latitude},{longitude}"
        response = await self._send_tier1(
            "POST",
            url,
            params={"results": str(results)},
            headers=headers,
            request_timeout=self.deploy_timeout,
        )
        self._raise_for_problem(response, "ST-1", tier1=True)
        try:
            items = _V1_LIST.validate_json(response.content)
        except ValidationError as exc:
            raise UpstreamError(f"ST-1 sent a v1 answer this ST-3 cannot read: {exc}") from exc
        return [deployment_from_v1(item, app=app, public_key=public_key) for item in items[:3]]

    async def release_tier1(
        self, tier1_url: str, *, app: AppId, public_key: str, api: Tier1Api
    ) -> None:
        """Release the app's deployments everywhere ST-1 placed them."""
        path = "api/v1/deploy" if api is Tier1Api.V1 else "api/v2/deploy"
        url = join_url(tier1_url, path, str(app), urlsafe_key(public_key))
        response = await self._send_tier1("DELETE", url, request_timeout=self.release_timeout)
        if response.status_code == 404:
            return
        self._raise_for_problem(response, "ST-1", tier1=True)

    async def _send_tier1(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._send(method, url, **kwargs)
        except PeerUnreachableError as exc:
            raise Tier1UnreachableError(str(exc)) from exc

    # --- ST-2 (just-in-time cloudlets, and releasing unchosen deployments) ----------------------

    async def deploy_on_cloudlet(
        self, api_url: str, *, app: AppId, public_key: str, device: DeviceContext
    ) -> Deployment:
        """Ask one ST-2 directly (a just-in-time cloudlet: no recipe, no credential)."""
        body = CloudletDeployRequest(app=app, client_public_key=public_key, device=device)
        url = join_url(api_url, "api/v2/deployments")
        response = await self._send(
            "POST", url, json=body.model_dump(mode="json"), request_timeout=self.jit_deploy_timeout
        )
        self._raise_for_problem(response, f"cloudlet {api_url}", tier1=False)
        deployment = _parse(response, Deployment, f"cloudlet {api_url}")
        if deployment.cloudlet_endpoint is None:
            deployment = deployment.model_copy(update={"cloudlet_endpoint": api_url})
        return deployment

    async def release_on_cloudlet(self, api_url: str, *, app: AppId, public_key: str) -> None:
        """Release one deployment directly on its ST-2; a 404 means it is already gone."""
        url = join_url(api_url, "api/v2/deployments", str(app), urlsafe_key(public_key))
        response = await self._send("DELETE", url, request_timeout=self.release_timeout)
        if response.status_code == 404:
            return
        self._raise_for_problem(response, f"cloudlet {api_url}", tier1=False)

    # --- plumbing -------------------------------------------------------------------------------

    async def _send(
        self, method: str, url: str, *, request_timeout: float, **kwargs: Any
    ) -> httpx.Response:
        """One request; a failed connect is retried (nothing was sent), anything else is not."""
        timeout = httpx.Timeout(request_timeout, connect=self.http.timeout.connect)
        for attempt in range(1, self.connect_attempts + 1):
            try:
                return await self.http.request(method, url, timeout=timeout, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt >= self.connect_attempts:
                    raise PeerUnreachableError(
                        f"cannot connect to {_origin(url)} after {attempt} attempt(s): "
                        f"{_describe(exc)}"
                    ) from exc
                pause = CONNECT_BACKOFF[min(attempt - 1, len(CONNECT_BACKOFF) - 1)]
                pause *= 1 + 0.25 * self._rng.random()
                logger.info(
                    "connect to %s failed (attempt %d of %d, %s); retrying in %.2fs",
                    _origin(url),
                    attempt,
                    self.connect_attempts,
                    _describe(exc),
                    pause,
                )
                await self._sleep(pause)
            except httpx.TimeoutException as exc:
                raise UpstreamTimeoutError(
                    f"{_origin(url)} did not answer {method} within {request_timeout:g}s"
                ) from exc
            except httpx.RequestError as exc:  # protocol, decoding and other transport failures
                raise UpstreamError(f"{method} {_origin(url)} failed: {_describe(exc)}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @staticmethod
    def _raise_for_problem(response: httpx.Response, who: str, *, tier1: bool) -> None:
        if response.is_success:
            return
        problem = _read_problem(response)
        if problem is None:
            raise UpstreamError(
                f"{who} answered {response.status_code} {response.reason_phrase} "
                f"to {response.request.method} {response.request.url.path}"
            )
        error = error_from_problem(problem)
        if isinstance(error, _PASS_THROUGH):
            raise error
        if tier1 and type(error) is NotFoundError:
            raise UpstreamRejectedError(
                problem,
                f"{who} has no {response.request.url.path} (404): "
                "is it an older ST-1? Try the v1 API (tier1 api: v1).",
            )
        raise UpstreamRejectedError(
            problem,
            f"{who} refused the request: {problem.title} ({problem.status})"
            + (f": {problem.detail}" if problem.detail else ""),
        )


def deployment_from_v1(item: CloudletDeploymentV1, *, app: AppId, public_key: str) -> Deployment:
    """A native `Deployment` from a v1 `CloudletDeployment`.

    v1 names no cloudlet: its id is derived from the tunnel endpoint, so two
    answers from one cloudlet compare equal. v1 has no ST-2 URL either, so such a
    deployment can only be released through ST-1.
    """
    tunnel = item.tunnel_config.to_native()
    created = item.created or datetime.now(UTC)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    expires = item.expires
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    name = item.deployment_name or f"v1-{uuid.uuid5(uuid.NAMESPACE_URL, tunnel.endpoint).hex[:12]}"
    return Deployment(
        cloudlet=CloudletId(uuid.uuid5(uuid.NAMESPACE_URL, f"wireguard://{tunnel.endpoint}")),
        app=app,
        client_public_key=public_key,
        name=name,
        status=item.status,
        created=created,
        expires=expires,
        tunnel=tunnel,
    )


def _parse(response: httpx.Response, model: type[T], who: str) -> T:
    try:
        return TypeAdapter(model).validate_json(response.content)
    except ValidationError as exc:
        raise UpstreamError(
            f"{who} sent an answer this ST-3 cannot read: {_first_error(exc)}"
        ) from exc


def _read_problem(response: httpx.Response) -> Problem | None:
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in {PROBLEM_MEDIA_TYPE, "application/json"}:
        return None
    try:
        return Problem.model_validate_json(response.content)
    except ValidationError:
        return None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" + (
        f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    )


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


async def gather_outcomes(calls: Sequence[Awaitable[T]]) -> list[T | SinfoniaError]:
    """Run calls concurrently; each yields its value or the SinfoniaError it raised."""

    async def settle(call: Awaitable[T]) -> T | SinfoniaError:
        try:
            return await call
        except SinfoniaError as exc:
            return exc

    return list(await asyncio.gather(*(settle(call) for call in calls)))
