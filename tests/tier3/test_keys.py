"""Per-app WireGuard keys: cached with tight permissions, stable, corrupt files replaced."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from common.keys import parse_wireguard_key
from tests.harness.requirements import skip_or_fail
from tier3.keys import KeyPair, KeyStore, default_cache_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_key_is_created_once_per_app_with_tight_permissions(tmp_path: Path) -> None:
    app, other = uuid.uuid4(), uuid.uuid4()
    store = KeyStore(tmp_path / "sinfonia")
    first = store.load_keypair(app)

    assert _mode(tmp_path / "sinfonia") == 0o700
    assert _mode(tmp_path / "sinfonia" / "keys") == 0o700
    assert _mode(store.path(app)) == 0o600
    assert store.path(app).read_text() == first.private_key + "\n"
    assert parse_wireguard_key(first.public_key) == first.public_key
    assert KeyStore(tmp_path / "sinfonia").load_keypair(app) == first
    assert store.load_keypair(other) != first
    assert first.private_key not in repr(first)


def test_public_key_matches_wg(tmp_path: Path) -> None:
    if shutil.which("wg") is None:
        skip_or_fail("wg (wireguard-tools) is not installed")
    keypair = KeyStore(tmp_path).load_keypair(uuid.uuid4())
    derived = subprocess.run(
        ["wg", "pubkey"], input=keypair.private_key, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert derived == keypair.public_key


@pytest.mark.parametrize("content", ["", "not a key\n", "A" * 44 + "\n", "\xff\xfe"])
def test_a_corrupt_key_file_is_replaced(tmp_path: Path, content: str) -> None:
    app = uuid.uuid4()
    store = KeyStore(tmp_path)
    store.path(app).parent.mkdir(parents=True)
    store.path(app).write_text(content, encoding="latin-1")

    keypair = store.load_keypair(app)

    assert store.path(app).read_text() == keypair.private_key + "\n"
    assert _mode(store.path(app)) == 0o600
    assert KeyStore(tmp_path).load_keypair(app) == keypair


def test_loose_permissions_are_tightened(tmp_path: Path) -> None:
    app = uuid.uuid4()
    keypair = KeyPair.generate()
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)
    (keys / f"{app}.key").write_text(keypair.private_key)
    (keys / f"{app}.key").chmod(0o644)

    assert KeyStore(tmp_path).load_keypair(app) == keypair
    assert _mode(keys) == 0o700
    assert _mode(keys / f"{app}.key") == 0o600


def test_processes_racing_for_a_new_key_agree(tmp_path: Path) -> None:
    app = uuid.uuid4()
    code = (
        "import sys, uuid; from pathlib import Path; from tier3.keys import KeyStore; "
        "print(KeyStore(Path(sys.argv[1])).load_keypair(uuid.UUID(sys.argv[2])).public_key)"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), str(app)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    keys = {child.communicate(timeout=60)[0].strip() for child in children}
    assert len(keys) == 1
    assert keys == {KeyStore(tmp_path).load_keypair(app).public_key}
    assert [p.name for p in (tmp_path / "keys").iterdir()] == [f"{app}.key"]


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "sinfonia"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "sinfonia"
