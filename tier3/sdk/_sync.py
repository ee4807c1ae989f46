"""The synchronous SDK: `Client` talks to the daemon, `InProcessClient` needs none."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from common.errors import UpstreamTimeoutError
from tier3.context import LocationProvider
from tier3.errors import DaemonUnavailableError
from tier3.schema import Backend, JitCloudlet, Strategy, Tier1Api
from tier3.sdk import _base
from tier3.sdk._async import AsyncInProcessClient
from tier3.settings import Tier3Settings

T = TypeVar("T")


class Client:
    """Calls a running `sinfonia-tier3 serve` over loopback TCP or its Unix socket.

    Use it as `with Client() as client:`; one client serves the whole app.
    """

    def __init__(
        self,
        base_url: str = _base.DEFAULT_DAEMON_URL,
        *,
        uds: str | Path | None = None,
        timeout: float = _base.DEPLOY_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if uds is not None and transport is None:
            transport = httpx.HTTPTransport(uds=str(uds))
            base_url = _base.UNIX_SOCKET_URL
        self._where = str(uds) if uds is not None else base_url
        self._uds = Path(uds) if uds is not None else None
        self._timeout = httpx.Timeout(timeout, connect=_base.CONNECT_TIMEOUT)
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=2),
            trust_env=False,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def deploy_backend(
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
        return self._call(_base.build_deploy(request), _base.parse_backend)

    def list_backends(self) -> list[Backend]:
        return self._call(_base.build_list_backends(), _base.parse_backends)

    def get_backend(self, app: uuid.UUID | str) -> Backend:
        return self._call(_base.build_get_backend(app), _base.parse_backend)

    def wait_for_backend(
        self, app: uuid.UUID | str, *, after: int, wait_timeout: float = 30.0
    ) -> Backend:
        """The backend once its generation passes `after` (a handoff), or the same at timeout."""
        call = _base.build_wait_for_backend(app, after=after, wait_timeout=wait_timeout)
        return self._call(call, _base.parse_backend)

    def release_backend(self, app: uuid.UUID | str) -> None:
        self._call(_base.build_release_backend(app), _base.parse_empty)

    def list_cloudlets(self) -> list[JitCloudlet]:
        return self._call(_base.build_list_cloudlets(), _base.parse_cloudlets)

    def _call(self, call: _base.Call, parse: Callable[[int, str, bytes], T]) -> T:
        timeout = self._timeout
        if call.read_timeout is not None:
            timeout = httpx.Timeout(call.read_timeout, connect=_base.CONNECT_TIMEOUT)
        if self._uds is not None and not self._uds.exists():
            raise DaemonUnavailableError(
                f"no Tier-3 daemon socket at {self._uds} (is `sinfonia-tier3 serve` running?)"
            )
        try:
            response = self._http.request(
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


class InProcessClient:
    """The daemon's machinery on a background event loop inside the app's process.

    `with InProcessClient(settings) as client:`; leaving the block releases the
    backends it got. Its Zeroconf browsing and releases keep running between calls.
    """

    def __init__(
        self, settings: Tier3Settings | None = None, *, location: LocationProvider | None = None
    ) -> None:
        self._async = AsyncInProcessClient(settings, location=location)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sinfonia-tier3", daemon=True
        )
        self._started = False

    def __enter__(self) -> Self:
        self._thread.start()
        self._started = True
        try:
            self._run(self._async.__aenter__())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._started:
            return
        try:
            self._run(self._async.aclose())
        finally:
            self._stop_loop()

    def deploy_backend(
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
        return self._run(
            self._async.deploy_backend(
                tier1_url,
                app,
                strategy=strategy,
                results=results,
                discover=discover,
                static_scoping=static_scoping,
                tier1_api=tier1_api,
            )
        )

    def list_backends(self) -> list[Backend]:
        return self._run(self._async.list_backends())

    def get_backend(self, app: uuid.UUID | str) -> Backend:
        return self._run(self._async.get_backend(app))

    def wait_for_backend(
        self, app: uuid.UUID | str, *, after: int, wait_timeout: float = 30.0
    ) -> Backend:
        return self._run(self._async.wait_for_backend(app, after=after, wait_timeout=wait_timeout))

    def release_backend(self, app: uuid.UUID | str) -> None:
        self._run(self._async.release_backend(app))

    def list_cloudlets(self) -> list[JitCloudlet]:
        return self._run(self._async.list_cloudlets())

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if not self._started:
            coroutine.close()
            raise RuntimeError("use the in-process client inside `with`")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def _stop_loop(self) -> None:
        self._started = False
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
