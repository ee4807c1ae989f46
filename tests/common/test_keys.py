"""WireGuard key parsing: every encoding the v1 API allows, and the rejects."""

from __future__ import annotations

import base64

import pytest

from common.keys import parse_wireguard_key, urlsafe_key

RAW = bytes(range(1, 33))
STANDARD = base64.b64encode(RAW).decode()  # contains '+' or '/' only by chance; see below
TRICKY_RAW = bytes([0xFB, 0xFF] * 16)  # encodes with '+' and '/' in standard base64
TRICKY = base64.b64encode(TRICKY_RAW).decode()


def test_fixture_key_exercises_both_alphabets() -> None:
    assert "+" in TRICKY or "/" in TRICKY
    assert "-" in base64.urlsafe_b64encode(TRICKY_RAW).decode()


@pytest.mark.parametrize(
    "text",
    [
        TRICKY,
        TRICKY.rstrip("="),
        base64.urlsafe_b64encode(TRICKY_RAW).decode(),
        base64.urlsafe_b64encode(TRICKY_RAW).decode().rstrip("="),
    ],
    ids=["standard-padded", "standard-unpadded", "urlsafe-padded", "urlsafe-unpadded"],
)
def test_accepts_every_encoding_and_canonicalises(text: str) -> None:
    assert parse_wireguard_key(text) == TRICKY


def test_canonical_form_is_padded_standard_base64() -> None:
    key = parse_wireguard_key(STANDARD.rstrip("="))
    assert len(key) == 44
    assert key.endswith("=")
    assert base64.b64decode(key) == RAW


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "43 base64 characters"),
        ("abc", "43 base64 characters"),
        (base64.b64encode(bytes(31)).decode(), "43 base64 characters"),
        (base64.b64encode(bytes(33)).decode(), "43 base64 characters"),
        (STANDARD[:-2] + "!=", "43 base64 characters"),
        (STANDARD + "=", "43 base64 characters"),
        (" " + STANDARD, "43 base64 characters"),
        (STANDARD[:-2] + "B=", "canonical"),  # unused low bits set
        (base64.b64encode(bytes(32)).decode(), "all-zero"),
    ],
    ids=[
        "empty",
        "short",
        "31-bytes",
        "33-bytes",
        "bad-char",
        "double-pad",
        "space",
        "bits",
        "zero",
    ],
)
def test_rejects_what_is_not_a_key(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_wireguard_key(text)


def test_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        parse_wireguard_key(RAW)  # type: ignore[arg-type]


def test_urlsafe_form_round_trips() -> None:
    safe = urlsafe_key(TRICKY)
    assert "=" not in safe
    assert "+" not in safe
    assert "/" not in safe
    assert parse_wireguard_key(safe) == TRICKY
