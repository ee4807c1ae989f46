"""The asynchronous SDK: `AsyncClient` talks to the daemon, `AsyncInProcessClient` needs none."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import httpx

from common.errors import UpstreamTimeoutError
from common.types import AppId
from tier3.context import LocationProvider
from tier3.daemon.manager import BackendManager
from tier3.daemon.runtime import running_manager
from tier3.errors import DaemonUnavailableError
from tier3.schema import Backend, JitCloudlet, Strategy, Tier1Api
from tier3.sdk import _base
from tier3.settings import Tier3Settings

T = TypeVar("T")


class AsyncClient:
    """Calls a running `sinfonia-tier3 serve` over loopback TCP or its Unix socket.

    Use it as `async with AsyncClient() as client:`; one client (and one
    connection pool) serves the whole app.
    """

    def __init__(
        self,
        base_url: str = _base.DEFAULT_DAEMON_URL,
        *,
        uds: str | Path | None = None,
        timeout: float = _base.DEPLOY_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if uds is not None and transport is None:
            transport = httpx.AsyncHTTPTransport(uds=str(uds))
            base_url = _base.UNIX_SOCKET_URL
        self._where = str(uds) if uds is not None else base_url
        self._uds = Path(uds) if uds is not None else None
        self._timeout = httpx.Timeout(timeout, connect=_base.CONNECT_TIMEOUT)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=2),
            trust_env=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def deploy_backend(
        self,
        tier1_url: str | None,
        app: uuid.UUID | str,
        *,
        strategy: Strategy | str | None = None,
        results: int | None = None,
        discover: bool | None = None,
        static_scoping: bool | None = None,
        tier1_api: Tier1Api | str | None = None,
    ) -> Backend:
        """Get `app` a backend near this device and tunnel to it; again to hand off."""
        request = _base.build_deploy_request(
            tier1_url,
            app,
            strategy=strategy,
            results=results,
            discover=discover,
            static_scoping=static_scoping,
            tier1_api=tier1_api,
        )
        return await self._call(_base.build_deploy(request), _base.parse_backend)

    async def list_backends(self) -> list[Backend]:
        return await self._call(_base.build_list_backends(), _base.parse_backends)

    async def get_backend(self, app: uuid.UUID | str) -> Backend:
        return await self._call(_base.build_get_backend(app), _base.parse_backend)

    async def wait_for_backend(
        self, app: uuid.UUID | str, *, after: int, wait_timeout: float = 30.0
    ) -> Backend:
        """The backend once its generation passes `after` (a handoff), or the same at timeout."""
        call = _base.build_wait_for_backend(app, after=after, wait_timeout=wait_timeout)
        return await self._call(call, _base.parse_backend)

    async def release_backend(self, app: uuid.UUID | str) -> None:
        await self._call(_base.build_release_backend(app), _base.parse_empty)

    async def list_cloudlets(self) -> list[JitCloudlet]:
        return await self._call(_base.build_list_cloudlets(), _base.parse_cloudlets)

    async def _call(self, call: _base.Call, parse: Callable[[int, str, bytes], T]) -> T:
        timeout = self._timeout
        if call.read_timeout is not None:
            timeout = httpx.Timeout(call.read_timeout, connect=_base.CONNECT_TIMEOUT)
        if self._uds is not None and not self._uds.exists():
            raise DaemonUnavailableError(
                f"no Tier-3 daemon socket at {self._uds} (is `sinfonia-tier3 serve` running?)"
            )
        try:
            response = await self._http.request(
                call.method, call.path, params=call.params, json=call.json, timeout=timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise DaemonUnavailableError(
                f"cannot reach the Tier-3 daemon at {self._where} "
                f"(is `sinfonia-tier3 serve` running?): {exc}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(
                f"the Tier-3 daemon at {self._where} did not answer in time"
            ) from exc
        except httpx.TransportError as exc:
            raise DaemonUnavailableError(
                f"talking to the Tier-3 daemon at {self._where} failed: {exc}"
            ) from exc
        content_type = response.headers.get("content-type", "")
        return parse(response.status_code, content_type, response.content)


class AsyncInProcessClient:
    """Runs the daemon's machinery inside the app's own process: no daemon needed.

    `async with AsyncInProcessClient(settings) as client:`; leaving the block
    releases the backends it got (tunnels down, deployments released). A
    `location` provider (anything with `get_location()`) tells ST-1 where the
    device is at each deploy.
    """

    def __init__(
        self, settings: Tier3Settings | None = None, *, location: LocationProvider | None = None
    ) -> None:
        self.settings = settings or Tier3Settings()
        self.location = location
        self._stack = contextlib.AsyncExitStack()
        self._manager: BackendManager | None = None

    async def __aenter__(self) -> Self:
        self._manager = await self._stack.enter_async_context(
            running_manager(self.settings, location=self.location)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._manager = None
        await self._stack.aclose()

    @property
    def manager(self) -> BackendManager:
        if self._manager is None:
            raise RuntimeError("use the in-process client inside `async with`")
        return self._manager

    async def deploy_backend(
        self,
        tier1_url: str | None,
        app: uuid.UUID | str,
        *,
        strategy: Strategy | str | None = None,
        results: int | None = None,
        discover: bool | None = None,
        static_scoping: bool | None = None,
        tier1_api: Tier1Api | str | None = None,
    ) -> Backend:
        """Get `app` a backend near this device and tunnel to it; again to hand off."""
        request = _base.build_deploy_request(
            tier1_url,
            app,
            strategy=strategy,
            results=results,
            discover=discover,
            static_scoping=static_scoping,
            tier1_api=tier1_api,
        )
        return await self.manager.deploy_backend(request)

    async def list_backends(self) -> list[Backend]:
        return self.manager.get_backends()

    async def get_backend(self, app: uuid.UUID | str) -> Backend:
        return self.manager.get_backend(AppId(_base.parse_app(app)))

    async def wait_for_backend(
        self, app: uuid.UUID | str, *, after: int, wait_timeout: float = 30.0
    ) -> Backend:
        return await self.manager.wait_for_backend(
            AppId(_base.parse_app(app)), after=after, wait_timeout=wait_timeout
        )

    async def release_backend(self, app: uuid.UUID | str) -> None:
        await self.manager.release_backend(AppId(_base.parse_app(app)))

    async def list_cloudlets(self) -> list[JitCloudlet]:
        return self.manager.get_cloudlets()
