"""WireGuard public keys: strict parsing of the encodings peers send, one canonical form."""

from __future__ import annotations

import base64
import binascii
import re

KEY_BYTES = 32

# Standard and URL-safe alphabets together; padding is optional on the wire.
_KEY_TEXT = re.compile(r"[A-Za-z0-9+/_-]{43}=?")


def parse_wireguard_key(text: str) -> str:
    """Return `text` as a canonical WireGuard key: standard base64, padded, 44 characters.

    Accepts standard or URL-safe base64, with or without the trailing `=`, as
    the v1 API allows. Rejects anything that does not decode to exactly 32
    bytes, mixed garbage that a lenient decoder would silently drop, and the
    all-zero key (which WireGuard treats as "no key").
    """
    if not isinstance(text, str):
        raise TypeError("a WireGuard key must be a string")
    if not _KEY_TEXT.fullmatch(text):
        raise ValueError("a WireGuard key is 43 base64 characters, optionally followed by '='")
    standard = text.rstrip("=").replace("-", "+").replace("_", "/") + "="
    try:
        raw = base64.b64decode(standard, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not valid base64: {exc}") from exc
    if len(raw) != KEY_BYTES:  # pragma: no cover - the pattern pins the length
        raise ValueError(f"a WireGuard key is {KEY_BYTES} bytes, got {len(raw)}")
    canonical = base64.b64encode(raw).decode("ascii")
    if canonical.rstrip("=") != standard.rstrip("="):
        # The last character carries 2 unused bits that must be zero.
        raise ValueError("not a canonical base64 encoding of a 32-byte key")
    if raw == bytes(KEY_BYTES):
        raise ValueError("the all-zero key is not a usable WireGuard key")
    return canonical


def urlsafe_key(key: str) -> str:
    """Return a canonical key in the unpadded URL-safe form used in v1 request paths."""
    return key.rstrip("=").replace("+", "-").replace("/", "_")
