"""The embedded local driver: each backend is the recipe's command, supervised, on a free port.

For one machine without a cluster. Processes live as long as ST-2 does: it
stops them on shutdown, so there is nothing to rediscover after a restart.
A backend that crashes is restarted a bounded number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import re
import secrets
import signal
import socket
from dataclasses import dataclass

import httpx

from common.cloudlet import Hardware
from common.deployment import DeploymentStatus
from common.errors import InvalidRequestError, UpstreamError, UpstreamTimeoutError
from common.recipe import LocalSpec, Recipe
from common.service.retry import Backoff
from common.types import IPAddress
from tier2.records import CreateRequest, DeploymentRecord, Placement, ServiceEndpoint

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\$\{(port|host|name)\}")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
PROBE_INTERVAL = 0.05
RESTART_BACKOFF = Backoff(initial=0.5, maximum=10.0)


@dataclass(frozen=True, slots=True)
class LocalDriverConfig:
    bind_host: IPAddress
    advertise_host: IPAddress
    ready_timeout: float
    stop_timeout: float
    max_restarts: int


@dataclass(slots=True)
class _Backend:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    process: asyncio.subprocess.Process
    supervisor: asyncio.Task[None] | None = None


class LocalDriver:
    """Runs recipe backends as child processes of ST-2."""

    name = "local"

    def __init__(self, config: LocalDriverConfig) -> None:
        self._config = config
        self._backends: dict[str, _Backend] = {}

    async def check_ready(self) -> None:
        return None

    async def fetch_hardware(self) -> Hardware:
        return Hardware(cpu_cores=os.cpu_count() or 0, memory_bytes=_memory_bytes())

    def new_name(self, recipe: Recipe) -> str:
        return f"local-{_slug(recipe.name)}-{secrets.token_hex(4)}"

    async def rediscover(self) -> list[DeploymentRecord]:
        return []

    async def sweep(self) -> None:
        return None

    async def create(self, request: CreateRequest) -> DeploymentRecord:
        spec = request.recipe.local
        if spec is None:
            raise InvalidRequestError(
                f"recipe {request.recipe.name!r} has no local command; this cloudlet runs "
                "backends as local processes"
            )
        name = request.name
        port = _free_port(self._config.bind_host)
        argv, env = _command(spec, name=name, host=str(self._config.bind_host), port=port)
        backend = _Backend(name, argv, env, port, await _spawn(argv, env))
        self._backends[name] = backend
        try:
            async with asyncio.timeout(self._config.ready_timeout):
                await self._wait_ready(backend, spec)
        except TimeoutError as exc:
            await self.delete(name)
            raise UpstreamTimeoutError(
                f"backend {name} was not ready within {self._config.ready_timeout:g}s"
            ) from exc
        except BaseException:
            await asyncio.shield(self.delete(name))
            raise
        backend.supervisor = asyncio.create_task(self._supervise(backend), name=f"supervise {name}")
        host = self._config.advertise_host
        return DeploymentRecord(
            key=request.key,
            app_name=request.recipe.name,
            status=DeploymentStatus.DEPLOYED,
            created=request.created,
            expires=request.expires,
            lease_seconds=request.lease_seconds,
            client_address=request.client_address,
            placement=Placement(
                name=name,
                services=(ServiceEndpoint(_slug(request.recipe.name), str(host), port),),
                routes=(ipaddress.ip_network(host),),
            ),
        )

    async def update(self, record: DeploymentRecord) -> None:
        return None

    async def delete(self, name: str) -> None:
        backend = self._backends.pop(name, None)
        if backend is None:
            return
        if backend.supervisor is not None:
            backend.supervisor.cancel()
            await asyncio.gather(backend.supervisor, return_exceptions=True)
        await self._stop(backend.process)

    async def aclose(self) -> None:
        for name in list(self._backends):
            await self.delete(name)

    def port_of(self, name: str) -> int | None:
        backend = self._backends.get(name)
        return None if backend is None else backend.port

    async def _wait_ready(self, backend: _Backend, spec: LocalSpec) -> None:
        host = str(self._config.bind_host)
        async with httpx.AsyncClient(timeout=httpx.Timeout(1.0), trust_env=False) as client:
            while True:
                if backend.process.returncode is not None:
                    raise UpstreamError(
                        f"backend {backend.name} exited with {backend.process.returncode} "
                        "before it was ready"
                    )
                if await _answers(client, host, backend.port, spec.ready_path):
                    return
                await asyncio.sleep(PROBE_INTERVAL)

    async def _supervise(self, backend: _Backend) -> None:
        """Restart the backend when it dies, at most `max_restarts` times."""
        restarts = 0
        while True:
            code = await backend.process.wait()
            if restarts >= self._config.max_restarts:
                logger.error("backend %s exited with %s; giving up after %d restart(s)",
                             backend.name, code, restarts)  # fmt: skip
                return
            restarts += 1
            delay = RESTART_BACKOFF.delay(restarts, _RNG)
            logger.warning("backend %s exited with %s; restart %d in %.1fs",
                           backend.name, code, restarts, delay)  # fmt: skip
            await asyncio.sleep(delay)
            try:
                backend.process = await _spawn(backend.argv, backend.env)
            except InvalidRequestError:
                logger.exception("backend %s cannot be restarted", backend.name)
                return

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            async with asyncio.timeout(self._config.stop_timeout):
                await process.wait()
        except TimeoutError:
            _signal_group(process, signal.SIGKILL)
            await process.wait()


_RNG = random.Random()  # noqa: S311 - jitter, not secrets


def _command(
    spec: LocalSpec, *, name: str, host: str, port: int
) -> tuple[list[str], dict[str, str]]:
    values = {"port": str(port), "host": host, "name": name}
    argv = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], part) for part in spec.command]
    env = {**os.environ, **spec.environment, "PORT": str(port), "HOST": host}
    return argv, env


async def _spawn(argv: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise InvalidRequestError(f"the recipe's command cannot run here: {exc}") from exc


async def _answers(client: httpx.AsyncClient, host: str, port: int, path: str | None) -> bool:
    if path is None:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True
    url_host = f"[{host}]" if ":" in host else host
    try:
        response = await client.get(f"http://{url_host}:{port}{path}")
    except httpx.HTTPError:
        return False
    return response.is_success


def _signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _free_port(host: IPAddress) -> int:
    family = socket.AF_INET6 if host.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((str(host), 0))
        port: int = sock.getsockname()[1]
        return port


def _slug(text: str) -> str:
    return _NOT_NAME.sub("-", text.lower()).strip("-")[:30].strip("-") or "app"


def _memory_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError as exc:
        logger.warning("cannot read /proc/meminfo (%s); reporting no memory", exc)
    return 0
