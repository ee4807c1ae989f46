"""Runs short helper programs (`wg`, `ip`) with a timeout; output is returned, never logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from common.errors import UnavailableError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


async def run_command(
    argv: Sequence[str], *, time_limit: float, input_text: str | None = None
) -> CommandResult:
    """Run `argv` for at most `time_limit` seconds; a program that hangs is killed and reaped."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if input_text is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise UnavailableError(f"cannot run {argv[0]}: {exc}") from exc
    payload = input_text.encode() if input_text is not None else None
    try:
        async with asyncio.timeout(time_limit):
            stdout, stderr = await process.communicate(payload)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise UnavailableError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} timed out") from exc
    except BaseException:
        if process.returncode is None:
            process.kill()
            await asyncio.shield(process.wait())
        raise
    return CommandResult(
        returncode=process.returncode if process.returncode is not None else -1,
        stdout=stdout.decode("utf-8", "replace"),
        stderr=stderr.decode("utf-8", "replace"),
    )


async def run_checked(
    argv: Sequence[str], *, time_limit: float, input_text: str | None = None
) -> str:
    """Run `argv`; its stdout, or `UnavailableError` quoting its stderr when it fails."""
    result = await run_command(argv, time_limit=time_limit, input_text=input_text)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise UnavailableError(f"{' '.join(argv[:3])} failed ({result.returncode}): {detail[0]}")
    return result.stdout
