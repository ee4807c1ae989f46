"""What the demo prints: steps, indented details, live progress while waiting, failures."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from demo_stage import Process


class DemoError(Exception):
    """A step failed: what happened, and the programs whose logs explain it."""

    def __init__(self, message: str, *processes: Process) -> None:
        super().__init__(message)
        self.processes = processes


class Out:
    """What the newcomer reads: steps, indented details, and live progress while waiting."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.started = time.monotonic()

    def line(self, text: str = "") -> None:
        print(text, flush=True)

    def detail(self, text: str) -> None:
        for part in text.splitlines():
            self.line(f"      {part}")

    def wait(
        self,
        what: str,
        checks: dict[str, Callable[[], bool]],
        *,
        timeout: float,
        processes: list[Process],
    ) -> float:
        """Poll each check until all are true, showing which are done; seconds taken."""
        started = time.monotonic()
        done: dict[str, float] = {}
        spinner = "|/-\\"
        tick = 0
        while len(done) < len(checks):
            for name, check in checks.items():
                if name not in done and _quietly(check):
                    done[name] = time.monotonic() - started
                    if not self.tty:
                        self.line(f"      {name} ready after {done[name]:.1f}s")
            for process in processes:
                if not process.alive():
                    self._clear()
                    raise DemoError(f"{process.name} stopped while {what}", process)
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                self._clear()
                missing = ", ".join(name for name in checks if name not in done)
                raise DemoError(f"timed out after {timeout:.0f}s {what}: {missing}", *processes)
            if self.tty:
                states = "  ".join(
                    f"{name} {'ok' if name in done else spinner[tick % 4]}" for name in checks
                )
                print(f"\r      {states}  {elapsed:4.1f}s", end="", flush=True)
                tick += 1
            time.sleep(0.1)
        self._clear()
        took = time.monotonic() - started
        if self.tty:
            self.line("      " + "  ".join(f"{name} ok" for name in checks) + f"  {took:.1f}s")
        return took

    def _clear(self) -> None:
        if self.tty:
            print("\r\033[K", end="", flush=True)


def _quietly(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:  # not up yet: the service is still starting
        return False


def report_failure(out: Out, message: str, processes: tuple[Process, ...], logs: Path) -> None:
    """The last log lines of the programs involved, then the reason, last, where it is seen."""
    out.line()
    for process in processes:
        out.line(f"--- last lines of {process.name}'s log ---")
        out.line(process.tail(10))
    out.line()
    out.line(f"FAILED: {message}")
    out.line(f"The services' logs are kept in {logs}")
