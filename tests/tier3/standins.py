"""Stand-in ST-1 and ST-2 speaking exactly the agreed contract, served in a thread or a namespace.

ST-2 stand-ins hand out tunnel configs and, given a WireGuard interface,
really add and remove the device's peer on it (`wg set`). The ST-1 stand-in
forwards deploys to its ST-2s, as the real one does. Every request is
recorded, in memory and optionally as JSON lines in a file (the test reads
that file when the stand-in runs inside a network namespace).

Run inside a namespace as `python -m tests.tier3.standins tier1|tier2|backend ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from starlette.responses import JSONResponse

from common.deployment import (
    CloudletDeployRequest,
    Deployment,
    DeploymentStatus,
    DeployRequest,
    DeployResponse,
)
from common.errors import NoEligibleCloudletError, error_from_problem
from common.keys import parse_wireguard_key, urlsafe_key
from common.problem import Problem
from common.service.app import build_service_app
from common.types import AppId
from common.v1 import CloudletDeploymentV1

STANDIN_PUBLIC_KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


@dataclass
class Recorder:
    """Requests a stand-in received: `(method, path, query, json body or None)`."""

    path: Path | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, query: str, body: Any) -> None:
        entry = {"method": method, "path": path, "query": query, "body": body}
        with self.lock:
            self.entries.append(entry)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as stream:
                    stream.write(json.dumps(entry) + "\n")

    def matching(self, method: str, path_part: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.entries if e["method"] == method and path_part in e["path"]]


def read_records(path: Path) -> list[dict[str, Any]]:
    """The requests a stand-in running elsewhere recorded in `path`."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _recording(app: FastAPI, recorder: Recorder) -> None:
    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if not request.url.path.startswith(("/healthz", "/readyz", "/metrics")):
            recorder.record(request.method, request.url.path, request.url.query, body)
        response: Response = await call_next(request)
        return response


# --- ST-2 -----------------------------------------------------------------------------------------


@dataclass
class Tier2Config:
    """One stand-in cloudlet: its identity, its WireGuard side, and the backend behind it."""

    cloudlet: uuid.UUID
    name: str
    api_url: str
    wg_endpoint: str
    wg_public_key: str = STANDIN_PUBLIC_KEY
    wg_interface: str | None = None
    client_address: str = "10.251.0.2/32"
    allowed_ips: tuple[str, ...] = ("10.251.0.1/32",)
    services: tuple[tuple[str, str, int], ...] = (("web", "10.251.0.1", 8080),)
    dns: tuple[str, ...] = ()
    deploy_delay: float = 0.0
    healthz_delay: float = 0.0


def build_tier2(config: Tier2Config, recorder: Recorder) -> FastAPI:
    """An ST-2 in JIT mode: deploys for anyone, keyed by (app, client key)."""
    app = build_service_app(
        title=f"stand-in ST-2 {config.name}",
        version="0",
        registry=CollectorRegistry(),
        max_body_bytes=1 << 20,
    )
    _recording(app, recorder)
    deployments: dict[tuple[str, str], Deployment] = {}

    @app.middleware("http")
    async def slow_health(request: Request, call_next: Any) -> Response:
        if request.url.path == "/healthz" and config.healthz_delay:
            await asyncio.sleep(config.healthz_delay)
        response: Response = await call_next(request)
        return response

    @app.post("/api/v2/deployments", status_code=201)
    async def deploy(body: CloudletDeployRequest) -> Deployment:
        if config.deploy_delay:
            await asyncio.sleep(config.deploy_delay)
        key = (str(body.app), body.client_public_key)
        existing = deployments.get(key)
        if existing is None:
            if config.wg_interface:
                await _wg(
                    "set", config.wg_interface, "peer", body.client_public_key,
                    "allowed-ips", config.client_address,
                )  # fmt: skip
            now = datetime.now(UTC)
            existing = Deployment.model_validate(
                {
                    "cloudlet": config.cloudlet,
                    "cloudlet_name": config.name,
                    "cloudlet_endpoint": config.api_url,
                    "app": body.app,
                    "client_public_key": body.client_public_key,
                    "name": f"{config.name}-{str(body.app)[:8]}",
                    "status": DeploymentStatus.DEPLOYED,
                    "created": now,
                    "expires": now + timedelta(minutes=10),
                    "tunnel": {
                        "public_key": config.wg_public_key,
                        "endpoint": config.wg_endpoint,
                        "allowed_ips": list(config.allowed_ips),
                        "address": [config.client_address],
                        "dns": list(config.dns),
                    },
                    "services": [
                        {"name": name, "host": host, "port": port}
                        for name, host, port in config.services
                    ],
                }
            )
            deployments[key] = existing
        return existing

    @app.delete("/api/v2/deployments/{app_id}/{key}", status_code=204)
    async def release(app_id: uuid.UUID, key: str) -> Response:
        public_key = parse_wireguard_key(key)
        if deployments.pop((str(app_id), public_key), None) is None:
            return Response(status_code=404)
        if config.wg_interface:
            await _wg("set", config.wg_interface, "peer", public_key, "remove")
        return Response(status_code=204)

    return app


async def _wg(*args: str) -> None:
    process = await asyncio.create_subprocess_exec("wg", *args)
    async with asyncio.timeout(10):
        code = await process.wait()
    if code != 0:
        raise RuntimeError(f"wg {' '.join(args)} failed with {code}")


# --- ST-1 -----------------------------------------------------------------------------------------


@dataclass
class Tier1Config:
    """The stand-in orchestrator: which ST-2s it uses, in order, or the problem it answers."""

    tier2_urls: list[str]
    problem: Problem | None = None


def build_tier1(config: Tier1Config, recorder: Recorder) -> FastAPI:
    """ST-1's native v2 deploy and release, and the v1 ones, forwarding to the ST-2 stand-ins."""
    clients: list[httpx.AsyncClient] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One client for the process, as the real ST-1 keeps.
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            clients.append(client)
            yield

    app = build_service_app(
        title="stand-in ST-1",
        version="0",
        registry=CollectorRegistry(),
        max_body_bytes=1 << 20,
        lifespan=lifespan,
    )
    _recording(app, recorder)

    async def fan_out(body: CloudletDeployRequest, results: int) -> list[Deployment]:
        if config.problem is not None:
            raise error_from_problem(config.problem)
        if not config.tier2_urls:
            raise NoEligibleCloudletError("no cloudlet", {"stand-in": ["no ST-2 configured"]})
        answers = await asyncio.gather(
            *(
                clients[0].post(f"{url}/api/v2/deployments", json=body.model_dump(mode="json"))
                for url in config.tier2_urls[:results]
            )
        )
        return [Deployment.model_validate_json(answer.content) for answer in answers]

    async def release_all(app_id: uuid.UUID, key: str) -> None:
        await asyncio.gather(
            *(
                clients[0].delete(f"{url}/api/v2/deployments/{app_id}/{key}")
                for url in config.tier2_urls
            )
        )

    @app.post("/api/v2/deploy")
    async def deploy(body: DeployRequest) -> DeployResponse:
        request = CloudletDeployRequest(
            app=body.app, client_public_key=body.client_public_key, device=body.device
        )
        return DeployResponse(deployments=await fan_out(request, body.results))

    @app.delete("/api/v2/deploy/{app_id}/{key}", status_code=204)
    async def release(app_id: uuid.UUID, key: str) -> Response:
        await release_all(app_id, urlsafe_key(parse_wireguard_key(key)))
        return Response(status_code=204)

    @app.post("/api/v1/deploy/{app_id}/{key}")
    async def deploy_v1(app_id: uuid.UUID, key: str, results: int = 1) -> JSONResponse:
        request = CloudletDeployRequest(
            app=AppId(app_id), client_public_key=parse_wireguard_key(key)
        )
        deployments = await fan_out(request, results)
        return JSONResponse(
            [
                CloudletDeploymentV1.from_native(d).model_dump(mode="json", by_alias=True)
                for d in deployments
            ]
        )

    @app.delete("/api/v1/deploy/{app_id}/{key}", status_code=204)
    async def release_v1(app_id: uuid.UUID, key: str) -> Response:
        await release_all(app_id, urlsafe_key(parse_wireguard_key(key)))
        return Response(status_code=204)

    return app


# --- serving --------------------------------------------------------------------------------------


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread; yields its base URL, stops it on exit."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it a response's header and body segments wait out a delayed ACK (40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the stand-in did not start")
            time.sleep(0.005)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class _BackendHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


def _serve(app: FastAPI, listen: str) -> None:
    host, _, port = listen.rpartition(":")
    config = uvicorn.Config(app, host=host, port=int(port), log_config=None, access_log=False)
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        print(json.dumps({"event": "ready", "listen": listen}), flush=True)
        await task

    asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="standins", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    tier1 = commands.add_parser("tier1")
    tier1.add_argument("--listen", required=True)
    tier1.add_argument("--tier2", action="append", default=[])
    tier1.add_argument("--record")
    tier2 = commands.add_parser("tier2")
    tier2.add_argument("--listen", required=True)
    tier2.add_argument("--config", required=True, help="Tier2Config as JSON")
    tier2.add_argument("--record")
    backend = commands.add_parser("backend")
    backend.add_argument("--listen", required=True)
    backend.add_argument("--body", required=True)
    args = parser.parse_args(argv)
    if args.command == "backend":
        host, _, port = args.listen.rpartition(":")
        _BackendHandler.body = args.body.encode()
        server = http.server.ThreadingHTTPServer((host, int(port)), _BackendHandler)
        print(json.dumps({"event": "ready", "listen": args.listen}), flush=True)
        server.serve_forever()
        return 0
    recorder = Recorder(Path(args.record) if args.record else None)
    if args.command == "tier1":
        _serve(build_tier1(Tier1Config(tier2_urls=list(args.tier2)), recorder), args.listen)
    else:
        raw = json.loads(args.config)
        raw["cloudlet"] = uuid.UUID(raw["cloudlet"])
        for name in ("allowed_ips", "dns"):
            raw[name] = tuple(raw.get(name, ()))
        raw["services"] = tuple(tuple(service) for service in raw.get("services", ()))
        _serve(build_tier2(Tier2Config(**raw), recorder), args.listen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
