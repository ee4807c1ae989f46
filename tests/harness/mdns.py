"""Run Python (snippets or the zeroconf agent) inside test namespaces and read its JSON output."""

from __future__ import annotations

import json
import logging
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.harness.mdns_agent import SERVICE_TYPE
from tests.harness.netns import NetnsHost, NetnsHosts

__all__ = [
    "AGENT_MODULE",
    "SERVICE_TYPE",
    "agent_argv",
    "popen_python",
    "python_argv",
    "read_json_line",
    "run_python",
]

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_MODULE = "tests.harness.mdns_agent"


def python_argv(code: str, *args: str) -> list[str]:
    """Command line running the Python ``code`` snippet with this interpreter."""
    return [sys.executable, "-c", code, *args]


def agent_argv(*args: str) -> list[str]:
    """Command line running the zeroconf agent (`tests.harness.mdns_agent`)."""
    return [sys.executable, "-m", AGENT_MODULE, *args]


def run_python(
    hosts: NetnsHosts, ns: str | NetnsHost, code: str, *args: str, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet inside a namespace (repository root as cwd) and wait for it."""
    return hosts.run(ns, python_argv(code, *args), timeout, cwd=REPO_ROOT)


def popen_python(hosts: NetnsHosts, ns: str | NetnsHost, argv: list[str]) -> subprocess.Popen[str]:
    """Start a Python command line (from `python_argv` or `agent_argv`) inside a namespace."""
    return hosts.popen(ns, argv, cwd=REPO_ROOT)


def read_json_line(child: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """Read one JSON object line from the child's stdout within ``timeout`` seconds.

    Meant for children that print a line per event and then wait (like the agent's
    ``register``): lines already buffered by an earlier read are not seen by ``select``.
    """
    if child.stdout is None:
        raise ValueError("the child's stdout is not a pipe")
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no output from {child.args!r} within {timeout}s")
            if not selector.select(remaining):
                continue
            line = child.stdout.readline()
            if not line:
                raise EOFError(f"{child.args!r} exited ({child.poll()}) before printing a line")
            line = line.strip()
            if line.startswith("{"):
                document: dict[str, Any] = json.loads(line)
                return document
            logger.debug("ignoring non-JSON output: %s", line)
