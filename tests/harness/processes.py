"""Start, watch and stop real programs: Popen with a log file, readiness waits, free ports."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: How long a program gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
#: Lines of a program's log quoted in error messages.
LOG_TAIL_LINES = 40


class HarnessError(RuntimeError):
    """A program of the harness failed to start or to become ready."""


@dataclass(frozen=True)
class ManagedProcess:
    """A program started by the harness, with the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def running(self) -> bool:
        """Tell whether the program has not exited yet."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Return the last ``lines`` lines of the program's log."""
        return read_tail(self.log_path, lines)


def read_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a text file, or a note when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago.

    The kernel picks them (bind to port 0); all sockets stay open until every port is
    chosen, so the ports differ from each other.
    """
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port() -> int:
    """Return one TCP port on 127.0.0.1 that was free a moment ago."""
    return free_ports(1)[0]


#: Probes talk to loopback only: never through a proxy named in the environment.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 2.0,
) -> tuple[int, bytes]:
    """GET ``url`` directly (no proxy) and return ``(status, body)``; HTTP errors raise."""
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310
    opener = _NO_PROXY_OPENER
    if context is not None:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
    with opener.open(request, timeout=timeout) as response:
        status: int = response.status
        body: bytes = response.read()
        return status, body


def start_process(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ManagedProcess:
    """Start ``argv`` with stdout and stderr going to ``log_dir/<name>.log``.

    ``env`` entries are added to the harness's own environment.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    logger.debug("starting %s: %s", name, " ".join(argv))
    with log_path.open("ab") as log_file:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
        )
    logger.info("started %s (pid %d), log %s", name, popen.pid, log_path)
    return ManagedProcess(name=name, popen=popen, log_path=log_path)


def stop_popen(popen: subprocess.Popen[Any], name: str, timeout: float = STOP_TIMEOUT) -> int:
    """Terminate a child, wait at most ``timeout`` seconds, then kill it; reap it, close pipes."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning(
                "%s (pid %d) ignored SIGTERM for %.1fs, killing", name, popen.pid, timeout
            )
            popen.kill()
            popen.wait(timeout=timeout)
    for stream in (popen.stdin, popen.stdout, popen.stderr):
        if stream is not None:
            stream.close()
    logger.debug("%s (pid %d) exited with %s", name, popen.pid, popen.returncode)
    return popen.returncode


def stop_process(process: ManagedProcess, timeout: float = STOP_TIMEOUT) -> int:
    """Stop a harness program (see `stop_popen`) and return its exit code."""
    return stop_popen(process.popen, process.name, timeout)


def stop_all(processes: Sequence[ManagedProcess], timeout: float = STOP_TIMEOUT) -> None:
    """Stop programs in reverse start order (dependants before what they depend on)."""
    for process in reversed(processes):
        stop_process(process, timeout)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    processes: Sequence[ManagedProcess] = (),
    interval: float = 0.1,
) -> float:
    """Poll ``check`` until it returns True; return the seconds it took.

    Exceptions from ``check`` count as "not yet". Raises `HarnessError` when the deadline
    passes or when one of ``processes`` exits first; the message quotes their log tails.
    """
    start = time.monotonic()
    deadline = start + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if check():
                return time.monotonic() - start
        except Exception as exc:  # the check probes a program that may not be up yet
            last_error = exc
        for process in processes:
            code = process.popen.poll()
            if code is not None:
                raise HarnessError(
                    f"{process.name} exited with code {code} while waiting for {what}\n"
                    f"--- last lines of {process.log_path} ---\n{process.log_tail()}"
                )
        if time.monotonic() >= deadline:
            details = [f"timed out after {timeout:.1f}s waiting for {what}"]
            if last_error is not None:
                details.append(f"last error: {last_error!r}")
            details.extend(f"--- last lines of {p.log_path} ---\n{p.log_tail()}" for p in processes)
            raise HarnessError("\n".join(details))
        time.sleep(interval)


def run_checked(
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a short helper command; raise `HarnessError` with its output if it fails."""
    try:
        result = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{' '.join(argv)} timed out after {timeout}s") from exc
    if result.returncode != 0:
        raise HarnessError(
            f"{' '.join(argv)} exited with {result.returncode}\n"
            f"stdout: {result.stdout.strip()}\nstderr: {result.stderr.strip()}"
        )
    return result
