"""Sealed credentials: only the box's key opens them, and any change is detected; AES-GCM
seals new values and values of the earlier HMAC scheme still open."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aybiza.security.secretbox import (
    AesGcmSecretBox,
    HmacSecretBox,
    SecretBoxError,
    load_master_key,
    secret_box,
)

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


AES = AesGcmSecretBox(b"k" * 32)


@given(st.text(max_size=300))
def test_aes_gcm_round_trips_and_hides_the_text(plaintext: str) -> None:
    sealed = AES.seal(plaintext)
    assert sealed.startswith("ag1.")
    if len(plaintext) >= 8:
        assert plaintext not in sealed
    assert AES.open(sealed) == plaintext


@given(st.data())
def test_aes_gcm_detects_any_changed_byte(data: st.DataObject) -> None:
    raw = bytearray(base64.urlsafe_b64decode(AES.seal("customer auth token")[4:]))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SecretBoxError, match="authentication"):
        AES.open("ag1." + base64.urlsafe_b64encode(bytes(raw)).decode())


def test_aes_gcm_refuses_other_keys_shapes_and_a_changed_scheme_tag() -> None:
    sealed = AES.seal("secret")
    assert AES.seal("secret") != sealed
    with pytest.raises(SecretBoxError, match="authentication"):
        AesGcmSecretBox(b"o" * 32).open(sealed)
    for bad in ("", "secret", "ag1.", "ag1.!!!", "ag1." + "A" * 8, "ag2." + sealed[4:]):
        with pytest.raises(SecretBoxError):
            AES.open(bad)
    with pytest.raises(ValueError, match="32 bytes"):
        AesGcmSecretBox(b"short")
    # The stdlib box cannot read AES-GCM values: every process must use ``secret_box``.
    with pytest.raises(SecretBoxError, match="unknown scheme"):
        BOX.open(sealed)


def test_the_platform_box_seals_with_aes_gcm_and_still_opens_hs1_values() -> None:
    box = secret_box(b"k" * 32)
    assert box.seal("x").startswith("ag1.")
    written_by_an_earlier_build = HmacSecretBox(b"k" * 32).seal("trunk password")
    assert box.open(written_by_an_earlier_build) == "trunk password"
    with pytest.raises(SecretBoxError):
        box.open(HmacSecretBox(b"o" * 32).seal("trunk password"))
