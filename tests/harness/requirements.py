"""Prerequisite checks for harness components and the single skip-or-fail rule."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

logger = logging.getLogger(__name__)


class ComponentUnavailableError(Exception):
    """A harness component cannot start on this machine (not root, a program is missing)."""


def in_ci() -> bool:
    """Tell whether the run is a CI run (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the requesting test, or fail it when ``CI=true``: CI must exercise every component."""
    if in_ci():
        logger.error("component unavailable in CI: %s", reason)
        pytest.fail(f"{reason} (CI=true, so this is a failure rather than a skip)", pytrace=False)
    logger.warning("component unavailable, skipping: %s", reason)
    pytest.skip(reason)


def require(check: Callable[[], None]) -> None:
    """Run a prerequisite check; turn `ComponentUnavailableError` into a skip (or a CI failure)."""
    try:
        check()
    except ComponentUnavailableError as exc:
        reason = str(exc)
    else:
        return
    skip_or_fail(reason)  # outside the except block: no chained traceback in the report


def require_root(component: str) -> None:
    """Raise `ComponentUnavailableError` unless the process runs as root."""
    if os.geteuid() != 0:
        raise ComponentUnavailableError(f"{component} needs root (running as uid {os.geteuid()})")


def require_executable(component: str, name: str, directory: Path | None = None) -> str:
    """Return the path of program ``name`` (in ``directory`` or on PATH) or raise."""
    if directory is not None:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise ComponentUnavailableError(f"{component} needs {name}, not found in {directory}")
    found = shutil.which(name)
    if found is None:
        raise ComponentUnavailableError(f"{component} needs {name}, not found on PATH")
    return found
