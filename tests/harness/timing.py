"""Record how long each harness fixture takes to start, for the session summary."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

STARTUP_TIMES_FILE = "startup-times.txt"


@dataclass(frozen=True)
class StartupTime:
    """One fixture's measured start-up."""

    fixture: str
    seconds: float

    def line(self) -> str:
        """Format as one line of ``startup-times.txt``."""
        return f"{self.fixture} {self.seconds:.2f}s"


@dataclass
class StartupTimes:
    """Start-up durations of the fixtures started in this session, also written to a file."""

    path: Path
    records: list[StartupTime] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, fixture: str, seconds: float) -> StartupTime:
        """Remember a duration and append it to the file."""
        entry = StartupTime(fixture, seconds)
        with self._lock:
            self.records.append(entry)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(entry.line() + "\n")
        logger.info("fixture %s started in %.2fs", fixture, seconds)
        return entry

    @contextmanager
    def measure(self, fixture: str) -> Iterator[None]:
        """Time the block and record it under ``fixture`` if it completes."""
        start = time.monotonic()
        yield
        self.record(fixture, time.monotonic() - start)
