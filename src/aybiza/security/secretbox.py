"""Credentials stored encrypted at rest (SIP trunk passwords, webhook signing secrets, the
customers' Twilio auth tokens) behind one small interface, ``SecretBox``.

Sealed values carry a scheme tag, so every scheme ever used can still be opened:

- ``ag1.``: AES-256-GCM (``cryptography``'s audited AEAD), 96-bit random nonce, the tag as
  associated data; the key is derived from the master key with HKDF-SHA256.
  ``AesGcmSecretBox`` seals with it and is the platform's box (``secret_box``).
- ``hs1.``: HMAC-SHA256 as a keystream in counter mode, then encrypt-then-MAC, from the standard
  library (``HmacSecretBox``), written by earlier builds; ``AesGcmSecretBox`` still opens it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aybiza.security.key_file import read_private_file, write_private_file

SECRET_KEY_FILE = "secret.key"
_SCHEME = "hs1."
_AES_SCHEME = "ag1."
_AES_NONCE_BYTES = 12
_AES_TAG_BYTES = 16
_NONCE_BYTES = 16
_TAG_BYTES = 32
_BLOCK_BYTES = 32


class SecretBoxError(Exception):
    """A sealed value could not be opened: tampered with, truncated, or sealed with another key."""


class SecretBox(Protocol):
    """Seals short secrets for storage and opens them again."""

    def seal(self, plaintext: str) -> str:
        """An opaque, printable token that only this box (its key) can open."""

    def open(self, sealed: str) -> str:
        """The plaintext of a token from ``seal``; raises SecretBoxError otherwise."""


class HmacSecretBox:
    """Authenticated encryption from HMAC-SHA256 alone (encrypt-then-MAC, random 128-bit nonce):
    the ``hs1.`` scheme of earlier builds. New values are sealed by ``AesGcmSecretBox``."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise ValueError("the secret box needs a master key of at least 32 bytes")
        self._enc_key = hmac.digest(master_key, b"aybiza secretbox v1 encryption", "sha256")
        self._mac_key = hmac.digest(master_key, b"aybiza secretbox v1 authentication", "sha256")

    def seal(self, plaintext: str) -> str:
        """Encrypt and authenticate ``plaintext``."""
        data = plaintext.encode("utf-8")
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = _xor(data, self._keystream(nonce, len(data)))
        tag = self._tag(nonce, ciphertext)
        return _SCHEME + base64.urlsafe_b64encode(nonce + ciphertext + tag).decode("ascii")

    def open(self, sealed: str) -> str:
        """Check and decrypt a sealed token."""
        if not sealed.startswith(_SCHEME):
            raise SecretBoxError("not a value sealed by this box (unknown scheme)")
        raw = _decode(sealed[len(_SCHEME) :])
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SecretBoxError("sealed value is truncated")
        nonce, ciphertext, tag = (
            raw[:_NONCE_BYTES],
            raw[_NONCE_BYTES:-_TAG_BYTES],
            raw[-_TAG_BYTES:],
        )
        if not hmac.compare_digest(tag, self._tag(nonce, ciphertext)):
            raise SecretBoxError("sealed value fails authentication (tampered, or another key)")
        return _xor(ciphertext, self._keystream(nonce, len(ciphertext))).decode("utf-8")

    def _keystream(self, nonce: bytes, length: int) -> bytes:
        blocks = (length + _BLOCK_BYTES - 1) // _BLOCK_BYTES
        stream = b"".join(
            hmac.digest(self._enc_key, nonce + counter.to_bytes(4, "big"), "sha256")
            for counter in range(blocks)
        )
        return stream[:length]

    def _tag(self, nonce: bytes, ciphertext: bytes) -> bytes:
        return hmac.digest(self._mac_key, _SCHEME.encode() + nonce + ciphertext, "sha256")


class AesGcmSecretBox:
    """AES-256-GCM under a key derived from the master key; opens ``hs1.`` values of the
    standard-library box (same master key) too, so stored credentials keep working."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise ValueError("the secret box needs a master key of at least 32 bytes")
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"aybiza secretbox ag1 aes-gcm"
        ).derive(master_key)
        self._aead = AESGCM(key)
        self._legacy = HmacSecretBox(master_key)

    def seal(self, plaintext: str) -> str:
        """Encrypt and authenticate ``plaintext`` with a fresh random nonce."""
        nonce = secrets.token_bytes(_AES_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), _AES_SCHEME.encode())
        return _AES_SCHEME + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str) -> str:
        """Check and decrypt a token of either scheme."""
        if sealed.startswith(_SCHEME):
            return self._legacy.open(sealed)
        if not sealed.startswith(_AES_SCHEME):
            raise SecretBoxError("not a value sealed by this box (unknown scheme)")
        raw = _decode(sealed[len(_AES_SCHEME) :])
        if len(raw) < _AES_NONCE_BYTES + _AES_TAG_BYTES:
            raise SecretBoxError("sealed value is truncated")
        try:
            data = self._aead.decrypt(
                raw[:_AES_NONCE_BYTES], raw[_AES_NONCE_BYTES:], _AES_SCHEME.encode()
            )
        except InvalidTag as exc:
            raise SecretBoxError(
                "sealed value fails authentication (tampered, or another key)"
            ) from exc
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SecretBoxError("sealed value does not hold text") from exc


def secret_box(master_key: bytes) -> SecretBox:
    """The platform's box: seals with AES-256-GCM and opens every scheme written before.
    Every process that opens sealed values (API servers, workflow workers) should use it."""
    return AesGcmSecretBox(master_key)


def _decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise SecretBoxError("sealed value is not valid base64") from exc


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def load_master_key(configured: str | None, data_dir: Path) -> bytes:
    """The master key: ``AYBIZA_SECRET_KEY`` (URL-safe base64 of 32+ bytes) when set, else
    ``<data dir>/secret.key``, generated on first start. Every process of one deployment must
    use the same key, and losing it makes sealed credentials unreadable: back it up."""
    text = configured or read_private_file(data_dir / SECRET_KEY_FILE)
    if text is None:
        candidate = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
        write_private_file(data_dir / SECRET_KEY_FILE, candidate + "\n", replace=False)
        # Another process may have won the race to create it: use whatever is on disk.
        text = read_private_file(data_dir / SECRET_KEY_FILE) or candidate
    try:
        padded = text.encode("ascii") + b"=" * (-len(text) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(
            "AYBIZA_SECRET_KEY (or secret.key) must be URL-safe base64 of 32 random bytes"
        ) from exc
    if len(key) < 32:
        raise ValueError(
            f"AYBIZA_SECRET_KEY (or secret.key) decodes to {len(key)} bytes; at least 32 needed"
        )
    return key
