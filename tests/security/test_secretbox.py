"""Sealed credentials: only the box's key opens them, and any change is detected."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aybiza.security.secretbox import HmacSecretBox, SecretBoxError, load_master_key

BOX = HmacSecretBox(b"k" * 32)


@given(st.text(max_size=300))
def test_what_is_sealed_opens_to_the_same_text(plaintext: str) -> None:
    sealed = BOX.seal(plaintext)
    assert sealed.startswith("hs1.")
    if len(plaintext) >= 8:
        assert plaintext not in sealed
    assert BOX.open(sealed) == plaintext


def test_sealing_twice_gives_different_tokens() -> None:
    assert BOX.seal("password") != BOX.seal("password")


@given(st.data())
def test_any_changed_byte_is_detected(data: st.DataObject) -> None:
    raw = bytearray(base64.urlsafe_b64decode(BOX.seal("trunk password")[4:]))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SecretBoxError):
        BOX.open("hs1." + base64.urlsafe_b64encode(bytes(raw)).decode())


def test_other_keys_and_other_shapes_are_refused() -> None:
    sealed = BOX.seal("secret")
    with pytest.raises(SecretBoxError, match="authentication"):
        HmacSecretBox(b"o" * 32).open(sealed)
    for bad in ("", "secret", "hs1.", "hs1.!!!", "hs1." + "A" * 8, "fernet:" + sealed):
        with pytest.raises(SecretBoxError):
            BOX.open(bad)
    with pytest.raises(ValueError, match="32 bytes"):
        HmacSecretBox(b"short")


def test_the_master_key_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    first = load_master_key(None, tmp_path)
    assert len(first) == 32 and load_master_key(None, tmp_path) == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    configured = base64.urlsafe_b64encode(b"c" * 32).decode().rstrip("=")
    assert load_master_key(configured, tmp_path) == b"c" * 32
    with pytest.raises(ValueError, match="at least 32"):
        load_master_key(base64.urlsafe_b64encode(b"c" * 8).decode(), tmp_path)
    with pytest.raises(ValueError, match="base64"):
        load_master_key("not base64 at all!", tmp_path)
