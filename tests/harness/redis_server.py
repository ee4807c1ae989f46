"""A real redis-server on loopback without persistence."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.harness.processes import free_port, start_process, stop_process, wait_until
from tests.harness.requirements import require_executable

logger = logging.getLogger(__name__)


def check_prerequisites() -> None:
    """Raise `ComponentUnavailableError` when redis-server is missing."""
    require_executable("the Redis harness", "redis-server")


@dataclass(frozen=True)
class RedisServer:
    """A running redis-server; ``url`` points at database 0."""

    url: str
    host: str
    port: int
    log_path: Path


def _pong(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(64).startswith(b"+PONG")


@contextmanager
def running_redis(workdir: Path, *, timeout: float = 30.0) -> Iterator[RedisServer]:
    """Start redis-server on a free loopback port; stop it on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = start_process(
        "redis-server",
        [
            "redis-server",
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ],
        workdir / "logs",
    )  # fmt: skip
    try:
        took = wait_until(
            lambda: _pong(port), timeout=timeout, what="redis PING", processes=[process]
        )
        logger.info("redis-server answered PING after %.2fs", took)
        yield RedisServer(
            url=f"redis://127.0.0.1:{port}/0",
            host="127.0.0.1",
            port=port,
            log_path=process.log_path,
        )
    finally:
        stop_process(process)
