"""Per-app WireGuard key pairs cached on disk: directory 0700, files 0600, corrupt ones replaced."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from wireguard_tools import WireguardKey

from common.keys import parse_wireguard_key

logger = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/sinfonia`, falling back to `~/.cache/sinfonia` as XDG says."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "sinfonia"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A WireGuard key pair; the private key never leaves the device and is never logged."""

    private_key: str = field(repr=False)
    public_key: str

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_private(str(WireguardKey.generate()))

    @classmethod
    def from_private(cls, private_key: str) -> KeyPair:
        """Rebuild the pair from a private key; raises ValueError when it is not one."""
        canonical = parse_wireguard_key(private_key)
        public = str(WireguardKey(canonical).public_key())
        return cls(private_key=canonical, public_key=parse_wireguard_key(public))


class KeyStore:
    """One key pair per app UUID under `directory/keys/`, created on first use.

    Creation is atomic (a fully written temporary file is hard-linked into
    place), so two processes asking at once end up with the same key.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "keys"
        self._lock = threading.Lock()
        self._cache: dict[UUID, KeyPair] = {}

    def path(self, app: UUID) -> Path:
        return self.directory / f"{app}.key"

    def load_keypair(self, app: UUID) -> KeyPair:
        """The app's key pair, from memory, from disk, or new (replacing a corrupt file)."""
        with self._lock:
            cached = self._cache.get(app)
            if cached is None:
                cached = self._load_or_create(app)
                self._cache[app] = cached
            return cached

    def _load_or_create(self, app: UUID) -> KeyPair:
        self._ensure_directory()
        path = self.path(app)
        existing = self._read(path)
        if existing is not None:
            return existing
        keypair = KeyPair.generate()
        temporary = self._write_temporary(keypair)
        try:
            try:
                os.link(temporary, path)
            except FileExistsError:
                # Another process created it meanwhile, or the file there is corrupt.
                raced = self._read(path)
                if raced is not None:
                    return raced
                logger.warning("replacing corrupt WireGuard key file %s", path)
                os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        logger.info("created a WireGuard key for app %s", app, extra={"app": str(app)})
        return keypair

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for directory in (self.directory, self.directory.parent):
            mode = stat.S_IMODE(directory.stat().st_mode)
            if mode & 0o077:
                directory.chmod(DIR_MODE)

    def _read(self, path: Path) -> KeyPair | None:
        """The pair stored at `path`; None when absent or corrupt (it is then replaced)."""
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            logger.warning("cannot read WireGuard key file %s: %s", path, exc)
            return None
        try:
            keypair = KeyPair.from_private(text.strip())
        except ValueError:
            logger.warning("WireGuard key file %s is corrupt; a new key replaces it", path)
            return None
        if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
            path.chmod(FILE_MODE)
        return keypair

    def _write_temporary(self, keypair: KeyPair) -> Path:
        temporary = self.directory / f".{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            os.write(fd, (keypair.private_key + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return temporary
