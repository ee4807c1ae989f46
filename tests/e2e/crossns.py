"""Reach into test network namespaces from the test process: calls, listeners and TCP bridges.

setns(2) moves only the calling thread into another network namespace, and a
socket belongs to the namespace it was created in for its whole life. So the
test process can make a request from the device namespace, or bind a listener
inside a cloudlet namespace (a stand-in backend, a metrics exporter, the end
of a bridge to a program on the host's loopback), without a helper process for
each. Every call runs on a fresh thread that dies with its namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
#: Longest a call inside a namespace may take before the test gives up on it.
CALL_TIMEOUT = 60.0
BUFFER = 65536

_LIBC = ctypes.CDLL(None, use_errno=True)


def _enter(namespace: str) -> None:
    fd = os.open(NETNS_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _LIBC.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {namespace}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def call_in(namespace: str, function: Callable[[], T], *, timeout: float = CALL_TIMEOUT) -> T:
    """Run `function` on a new thread inside `namespace`; return its value or raise its error."""
    outcome: list[tuple[bool, object]] = []

    def target() -> None:
        try:
            _enter(namespace)
            outcome.append((True, function()))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name=f"netns {namespace}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"a call inside namespace {namespace} took longer than {timeout}s")
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]


def listen_in(namespace: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket bound inside `namespace` (port 0 picks a free one)."""

    def bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
        except BaseException:
            sock.close()
            raise
        return sock

    return call_in(namespace, bind)


class Bridge:
    """Forwards TCP connections accepted inside a namespace to an address in this one.

    Programs in a cloudlet namespace reach the kube-apiserver, and ST-1 reaches
    Redis, on the host's loopback this way: bytes are copied unchanged, so TLS
    runs end to end between the program and the real server.
    """

    def __init__(self, listener: socket.socket, target: tuple[str, int]) -> None:
        self._listener = listener
        self._target = target
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self.address: tuple[str, int] = listener.getsockname()

    def start(self) -> None:
        self._spawn(self._accept)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = set(self._sockets), set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError as exc:
                logger.warning("bridge to %s:%d: %s", *self._target, exc)
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            self._spawn(self._relay, client, upstream)

    def _relay(self, one: socket.socket, other: socket.socket) -> None:
        """Copy both ways until both sides have finished sending, or the bridge closes."""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(one, selectors.EVENT_READ, other)
                selector.register(other, selectors.EVENT_READ, one)
                sending = 2
                while sending and not self._closed:
                    for key, _ in selector.select(timeout=1.0):
                        source: socket.socket = key.fileobj  # type: ignore[assignment]
                        sink: socket.socket = key.data
                        data = source.recv(BUFFER)
                        if data:
                            sink.sendall(data)
                            continue
                        selector.unregister(source)
                        sink.shutdown(socket.SHUT_WR)
                        sending -= 1
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((one, other))
            one.close()
            other.close()


@contextmanager
def bridge(namespace: str, listen: tuple[str, int], target: tuple[str, int]) -> Iterator[Bridge]:
    """Bridge `listen` inside `namespace` to `target` here, until the block ends."""
    forwarder = Bridge(listen_in(namespace, *listen), target)
    forwarder.start()
    try:
        yield forwarder
    finally:
        forwarder.close()


@contextmanager
def http_server_in(
    namespace: str, host: str, port: int, handler: type[BaseHTTPRequestHandler]
) -> Iterator[ThreadingHTTPServer]:
    """Serve `handler` on `host:port` inside `namespace` from a thread of this process."""
    server = ThreadingHTTPServer((host, port), handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listen_in(namespace, host, port)
    server.server_address = server.socket.getsockname()
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
