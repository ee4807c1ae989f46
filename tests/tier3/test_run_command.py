"""`run_command` hands its input to a command that opens /dev/stdin, under uvloop too."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from tier3.daemon.tunnel import run_command
from tier3.errors import TunnelError


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_stdin_can_be_opened_by_path(loop_factory: object) -> None:
    # `wg setconf IFACE /dev/stdin` opens its input by path; with uvloop's PIPE
    # (a socket) that failed with ENXIO, and no tunnel came up under uvicorn.
    with asyncio.Runner(loop_factory=loop_factory) as runner:  # type: ignore[arg-type]
        output = runner.run(
            run_command(["cat", "/dev/stdin"], stdin=b"private = key\n", command_timeout=10)
        )
    assert output == "private = key\n"


def test_failures_carry_the_commands_message() -> None:
    with pytest.raises(TunnelError, match="No such file"):
        asyncio.run(run_command(["cat", "/nonexistent"], command_timeout=10))
