"""The cloudlet's identity on disk: created once, private files, the real WireGuard public key."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.requirements import skip_or_fail
from tier2.identity import KEY_FILE, UUID_FILE, load_identity


def test_identity_is_created_private_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = load_identity(state)
    assert state.stat().st_mode & 0o777 == 0o700
    for name in (UUID_FILE, KEY_FILE):
        assert (state / name).stat().st_mode & 0o777 == 0o600
    again = load_identity(state)
    assert again == first
    private = (state / KEY_FILE).read_text()
    assert private.strip() not in repr(first)


def test_loose_permissions_are_tightened(tmp_path: Path) -> None:
    state = tmp_path / "state"
    load_identity(state)
    state.chmod(0o755)
    (state / KEY_FILE).chmod(0o644)
    load_identity(state)
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_public_key_matches_wg_pubkey(tmp_path: Path) -> None:
    wg = shutil.which("wg")
    if wg is None:
        skip_or_fail("wg (Debian package wireguard-tools) is not installed")
    identity = load_identity(tmp_path)
    derived = subprocess.run(
        [wg, "pubkey"],
        input=identity.key_path.read_text(),
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.strip()
    assert derived == identity.public_key


def test_an_empty_identity_file_is_an_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    (tmp_path / UUID_FILE).write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_identity(tmp_path)
