"""The cloudlet's persistent identity on disk: its UUID and WireGuard key (files 0600, dir 0700)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wireguard_tools import WireguardKey

from common.keys import parse_wireguard_key
from common.types import CloudletId

logger = logging.getLogger(__name__)

UUID_FILE = "cloudlet-uuid"
KEY_FILE = "wireguard.key"


@dataclass(frozen=True, slots=True)
class CloudletIdentity:
    """Who this cloudlet is; the private key stays in `key_path` and is never logged."""

    uuid: CloudletId
    public_key: str
    key_path: Path

    def __repr__(self) -> str:
        return f"CloudletIdentity(uuid={self.uuid}, public_key={self.public_key})"


def load_identity(state_dir: Path) -> CloudletIdentity:
    """Read the identity from `state_dir`, creating the directory and files on first start."""
    _ensure_private_dir(state_dir)
    uuid_path = state_dir / UUID_FILE
    key_path = state_dir / KEY_FILE
    cloudlet = CloudletId(uuid.UUID(_read_or_create(uuid_path, lambda: str(uuid.uuid4()))))
    private = WireguardKey(_read_or_create(key_path, lambda: str(WireguardKey.generate())))
    if not private:
        raise ValueError(f"{key_path} holds the all-zero key")
    public = parse_wireguard_key(str(private.public_key()))
    return CloudletIdentity(uuid=cloudlet, public_key=public, key_path=key_path)


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        logger.warning("tightening permissions of %s to 0700", path)
        path.chmod(0o700)


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The stripped contents of `path`; written atomically (0600) from `make()` if absent."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    else:
        if path.stat().st_mode & 0o077:
            logger.warning("tightening permissions of %s to 0600", path)
            path.chmod(0o600)
        if not text:
            raise ValueError(f"{path} is empty; remove it to make a new identity")
        return text
    value = make()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(value + "\n")
        try:
            os.link(temporary, path)  # fails if another process won the race
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
    finally:
        temporary.unlink(missing_ok=True)
    logger.info("created %s", path)
    return value
