"""The master keys that wrap the tenants' data keys (``aybiza.store.field_keys.MasterKey``).

- ``KmsMasterKey``: an AWS KMS key (``AYBIZA_KMS_KEY_ID``), through the AWS SDK
  (aiobotocore): ``GenerateDataKey`` makes a tenant's data key, ``Decrypt`` unwraps it,
  ``ReEncrypt`` moves it to another KMS key without the key ever leaving KMS in plain form
  on rotation. The tenant id is the encryption context of every wrapped key.
- ``KeyFileMasterKey``: a file of versioned 256-bit keys (``AYBIZA_MASTER_KEY_FILE``, default
  ``<data dir>/master.key``, created 0600 on first start), one ``v<N> <base64>`` line per
  version, the highest current. Data keys are wrapped with AES-256-GCM, the tenant id bound
  as associated data. ``aybiza keys rotate`` adds a version and re-wraps every data key.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aybiza.config import Settings
from aybiza.security.key_file import read_private_file, write_private_file
from aybiza.store.field_keys import MasterKey

MASTER_KEY_FILE = "master.key"
KMS_CONTEXT_KEY = "aybiza:tenant"
_NONCE_BYTES = 12
_FILE_PREFIX = "file:v"


class MasterKeyError(Exception):
    """The master key is unusable: a malformed key file, an unknown version, a forged key."""


class KeyFileMasterKey:
    """Versioned master keys kept in a private file on the server's disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys = self._read()
        if not self._keys:
            write_private_file(path, _line(1, secrets.token_bytes(32)), replace=False)
            # Another process may have created it first: use what is on disk.
            self._keys = self._read()

    @property
    def key_id(self) -> str:
        """``file:v<N>`` of the newest version."""
        return f"{_FILE_PREFIX}{max(self._keys)}"

    async def generate(self, tenant_id: str) -> tuple[bytes, bytes, str]:
        """A new random data key, wrapped by the newest version (read again from the file:
        ``aybiza keys rotate`` may have added one since)."""
        self._keys = self._read() or self._keys
        plaintext = secrets.token_bytes(32)
        return plaintext, self._wrap(tenant_id, plaintext), self.key_id

    async def unwrap(self, tenant_id: str, wrapped: bytes, key_id: str) -> bytes:
        """The data key wrapped by version ``key_id``."""
        version = _file_version(key_id)
        if version not in self._keys:
            # Rotated by another process (``aybiza keys rotate``) since this one read the file.
            self._keys = self._read()
        if version not in self._keys:
            raise MasterKeyError(f"master key {key_id} is not in {self.path}")
        nonce, sealed = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
        try:
            return AESGCM(self._keys[version]).decrypt(nonce, sealed, _aad(tenant_id))
        except InvalidTag as exc:
            raise MasterKeyError(
                f"data key of tenant {tenant_id} fails authentication under {key_id}"
            ) from exc

    async def rewrap(self, tenant_id: str, wrapped: bytes, key_id: str) -> tuple[bytes, str]:
        """The data key wrapped by the newest version."""
        plaintext = await self.unwrap(tenant_id, wrapped, key_id)
        return self._wrap(tenant_id, plaintext), self.key_id

    def add_version(self) -> str:
        """Append a new random version (it wraps from now on); returns its key id. Older
        versions stay in the file so keys not yet re-wrapped can still be opened."""
        self._keys = self._read()
        version = max(self._keys) + 1
        self._keys[version] = secrets.token_bytes(32)
        content = "".join(_line(number, key) for number, key in sorted(self._keys.items()))
        write_private_file(self.path, content, replace=True)
        return self.key_id

    def _wrap(self, tenant_id: str, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        key = self._keys[max(self._keys)]
        return nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(tenant_id))

    def _read(self) -> dict[int, bytes]:
        text = read_private_file(self.path)
        keys: dict[int, bytes] = {}
        for number, line in enumerate((text or "").splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[0].startswith("v") or not parts[0][1:].isdigit():
                raise MasterKeyError(f"{self.path} line {number}: expected 'v<N> <base64 key>'")
            try:
                key = base64.urlsafe_b64decode(parts[1].encode("ascii"))
            except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
                raise MasterKeyError(f"{self.path} line {number}: the key is not base64") from exc
            if len(key) != 32:
                raise MasterKeyError(f"{self.path} line {number}: the key must be 32 bytes")
            keys[int(parts[0][1:])] = key
        return keys


class KmsMasterKey:
    """An AWS KMS symmetric key; credentials and region come from the usual AWS chain."""

    def __init__(self, key_id: str, *, region: str, endpoint_url: str | None = None) -> None:
        self._key_id = key_id
        self._region = region
        self._endpoint_url = endpoint_url

    @property
    def key_id(self) -> str:
        """The KMS key (id, ARN or alias) that wraps new data keys."""
        return self._key_id

    async def generate(self, tenant_id: str) -> tuple[bytes, bytes, str]:
        """``GenerateDataKey`` (AES_256) with the tenant as encryption context."""
        answer = await self._call(
            "generate_data_key",
            KeyId=self._key_id,
            KeySpec="AES_256",
            EncryptionContext=_context(tenant_id),
        )
        return bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"]), str(answer["KeyId"])

    async def unwrap(self, tenant_id: str, wrapped: bytes, key_id: str) -> bytes:
        """``Decrypt`` of the wrapped key, by the key that wrapped it."""
        answer = await self._call(
            "decrypt", CiphertextBlob=wrapped, KeyId=key_id, EncryptionContext=_context(tenant_id)
        )
        return bytes(answer["Plaintext"])

    async def rewrap(self, tenant_id: str, wrapped: bytes, key_id: str) -> tuple[bytes, str]:
        """``ReEncrypt`` to this key: the data key never leaves KMS unwrapped."""
        answer = await self._call(
            "re_encrypt",
            CiphertextBlob=wrapped,
            SourceKeyId=key_id,
            SourceEncryptionContext=_context(tenant_id),
            DestinationKeyId=self._key_id,
            DestinationEncryptionContext=_context(tenant_id),
        )
        return bytes(answer["CiphertextBlob"]), str(answer["KeyId"])

    async def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        async with get_session().create_client(
            "kms", region_name=self._region, endpoint_url=self._endpoint_url
        ) as client:
            answer: dict[str, Any] = await getattr(client, operation)(**arguments)
            return answer


def master_key_for(settings: Settings, *, kms_key_id: str | None = None) -> MasterKey:
    """The deployment's master key: KMS when a key id is configured (or given), else the
    key file."""
    key_id = kms_key_id or settings.kms_key_id
    if key_id:
        return KmsMasterKey(
            key_id,
            region=settings.aws_region or "us-east-1",
            endpoint_url=settings.kms_endpoint_url,
        )
    return KeyFileMasterKey(settings.master_key_file or settings.data_dir / MASTER_KEY_FILE)


def _line(version: int, key: bytes) -> str:
    return f"v{version} {base64.urlsafe_b64encode(key).decode('ascii')}\n"


def _file_version(key_id: str) -> int:
    if not key_id.startswith(_FILE_PREFIX) or not key_id[len(_FILE_PREFIX) :].isdigit():
        raise MasterKeyError(f"data key was wrapped by {key_id!r}, not by a key file version")
    return int(key_id[len(_FILE_PREFIX) :])


def _aad(tenant_id: str) -> bytes:
    return b"aybiza data key|" + tenant_id.encode("utf-8")


def _context(tenant_id: str) -> dict[str, str]:
    return {KMS_CONTEXT_KEY: tenant_id}
