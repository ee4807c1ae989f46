"""The gateway's WireGuard interface when ST-2 manages it: kernel WireGuard, else wireguard-go."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from common.errors import UnavailableError
from common.types import IPInterface
from tier2.commands import run_checked, run_command

logger = logging.getLogger(__name__)

USERSPACE_SOCKET_DIR = Path("/var/run/wireguard")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class ManagedInterface:
    """Creates the interface, sets key, port and address, and removes it again on `down`.

    wireguard-go runs in the foreground as ST-2's child (`-f`), so ST-2 reaps
    it and nothing outlives the service unnoticed. An interface that already
    exists (left by a crash) is reused.
    """

    def __init__(
        self,
        *,
        name: str,
        key_path: Path,
        listen_port: int,
        address: IPInterface,
        command_timeout: float,
    ) -> None:
        self.name = name
        self._key_path = key_path
        self._listen_port = listen_port
        self._address = address
        self._timeout = command_timeout
        self._userspace: asyncio.subprocess.Process | None = None
        self._kernel = False

    async def up(self) -> None:
        if await self.exists():
            logger.info("reusing existing WireGuard interface %s", self.name)
        else:
            await self._create()
        try:
            await self._run(
                "wg", "set", self.name, "private-key", str(self._key_path),
                "listen-port", str(self._listen_port),
            )  # fmt: skip
            await self._run("ip", "address", "replace", str(self._address), "dev", self.name)
            await self._run("ip", "link", "set", "dev", self.name, "up")
        except BaseException:
            await asyncio.shield(self.down())
            raise
        logger.info(
            "WireGuard interface %s up at %s, port %d", self.name, self._address, self._listen_port
        )

    async def down(self) -> None:
        process, self._userspace = self._userspace, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        elif self._kernel:
            await run_command(["ip", "link", "delete", "dev", self.name], time_limit=self._timeout)
        self._kernel = False

    async def recreate(self) -> None:
        """Bring the interface up again after it vanished (its wireguard-go, if any, is reaped)."""
        await self.down()
        await self.up()

    async def exists(self) -> bool:
        """Whether the interface is there and answers `wg`."""
        result = await run_command(
            ["wg", "show", self.name, "public-key"], time_limit=self._timeout
        )
        return result.returncode == 0

    async def _create(self) -> None:
        kernel = await run_command(
            ["ip", "link", "add", "dev", self.name, "type", "wireguard"], time_limit=self._timeout
        )
        if kernel.returncode == 0:
            self._kernel = True
            return
        logger.info("no kernel WireGuard (%s); starting wireguard-go", kernel.stderr.strip())
        try:
            self._userspace = await asyncio.create_subprocess_exec(
                "wireguard-go", "-f", self.name,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as exc:
            raise UnavailableError(f"cannot start wireguard-go: {exc}") from exc
        socket_path = USERSPACE_SOCKET_DIR / f"{self.name}.sock"
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while not (socket_path.exists() and await self.exists()):
                    if self._userspace.returncode is not None:
                        raise UnavailableError(
                            f"wireguard-go exited with {self._userspace.returncode}"
                        )
                    await asyncio.sleep(0.02)
        except TimeoutError as exc:
            await self.down()
            raise UnavailableError(f"wireguard-go did not create {self.name} in time") from exc

    async def _run(self, *argv: str) -> None:
        await run_checked(argv, time_limit=self._timeout)
