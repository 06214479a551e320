"""Field encryption at rest: the envelope of a sealed value and the column types that seal.

A sealed column (``SealedText``, ``SealedJSON``) encrypts in its bind step and decrypts in its
result step, so every statement that writes the column seals it: ORM flushes and Core
``insert``/``update`` statements (batched writes of ``aybiza.store.writer`` included) alike.
The column type only knows the value, so the value carries its tenant: ``for_tenant(tenant_id,
value)`` returns the same text, dict or list marked with the tenant whose data key seals it.
ORM rows are marked by the flush hook of ``aybiza.store.sealing_hooks``; a Core statement marks
its values with ``sealed_values``. A non-empty value bound without a tenant is refused
(``SealingError`` naming the column): nothing reaches the disk in plain text by omission.

The envelope (bytes, then ``sealed:`` + URL-safe base64 in the column)::

    b"v1" | tenant id length (1 byte) | tenant id | data key version (4 bytes, big endian)
          | nonce (12 bytes) | AES-256-GCM ciphertext and tag

The associated data is the header (format, tenant, key version) followed by
``table.column``: a value cannot be moved to another tenant, table or column, nor claim another
key version, without failing authentication. Rows written before sealing existed (migration
0310) hold plain text, without the ``sealed:`` prefix, and are read back as they are.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import weakref
from typing import Any, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Dialect, String, Text, TypeDecorator
from sqlalchemy.types import TypeEngine

PREFIX = "sealed:"
FORMAT = b"v1"
NONCE_BYTES = 12
# Rows of no tenant (a call to a number nobody registered, when even the operator's tenant is
# missing) are sealed with the platform's own data key.
PLATFORM_TENANT = "platform"

T = TypeVar("T")


class SealingError(Exception):
    """A value could not be sealed or opened: no tenant given, no key, or a forged envelope."""


class SealingKeys(Protocol):
    """The data keys of one database's tenants (``aybiza.store.field_keys.FieldKeys``)."""

    def current(self, tenant_id: str) -> tuple[int, AESGCM]:
        """The tenant's newest data key version and its cipher."""

    def cipher(self, tenant_id: str, version: int) -> AESGCM:
        """The cipher of one version of the tenant's data key."""


class TenantStr(str):
    """Text marked with the tenant whose data key seals it (compares as the plain text)."""

    tenant_id: str

    def __new__(cls, value: str, tenant_id: str) -> TenantStr:
        marked = super().__new__(cls, value)
        marked.tenant_id = tenant_id
        return marked


class TenantDict(dict[str, Any]):
    """A JSON object marked with the tenant whose data key seals it."""

    tenant_id: str = ""


class TenantList(list[Any]):
    """A JSON array marked with the tenant whose data key seals it."""

    tenant_id: str = ""


def for_tenant(tenant_id: str | None, value: T) -> T:
    """``value`` marked with its tenant (``None``: the platform's key) for a sealed column;
    values of other types (None, numbers) are returned unchanged."""
    tenant = tenant_id or PLATFORM_TENANT
    marked: Any
    if isinstance(value, str):
        marked = TenantStr(value, tenant)
    elif isinstance(value, dict):
        marked = TenantDict(value)
        marked.tenant_id = tenant
    elif isinstance(value, list):
        marked = TenantList(value)
        marked.tenant_id = tenant
    else:
        return value
    return marked  # type: ignore[no-any-return]


def seal_bytes(keys: SealingKeys, tenant_id: str, context: str, plaintext: bytes) -> bytes:
    """The envelope of ``plaintext`` under the tenant's newest data key; ``context`` (e.g.
    ``table.column`` or ``recordings``) is authenticated with it and needed to open it."""
    tenant = tenant_id.encode("ascii")
    if not 0 < len(tenant) < 256:
        raise SealingError(f"tenant id must be 1 to 255 ASCII characters, got {tenant_id!r}")
    version, cipher = keys.current(tenant_id)
    header = FORMAT + bytes([len(tenant)]) + tenant + version.to_bytes(4, "big")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return header + nonce + cipher.encrypt(nonce, plaintext, header + context.encode())


def envelope_tenant(envelope: bytes) -> tuple[str, int]:
    """The tenant and data key version named by an envelope's header."""
    if len(envelope) < 3 or envelope[:2] != FORMAT:
        raise SealingError("not a sealed value (unknown format)")
    size = envelope[2]
    end = 3 + size + 4
    if len(envelope) < end + NONCE_BYTES + 16:
        raise SealingError("sealed value is truncated")
    tenant = envelope[3 : 3 + size].decode("ascii", errors="replace")
    return tenant, int.from_bytes(envelope[3 + size : end], "big")


def open_bytes(keys: SealingKeys, envelope: bytes, context: str) -> bytes:
    """The plaintext of an envelope from ``seal_bytes`` with the same ``context``."""
    tenant, version = envelope_tenant(envelope)
    header_end = 3 + envelope[2] + 4
    header, nonce = envelope[:header_end], envelope[header_end : header_end + NONCE_BYTES]
    try:
        return keys.cipher(tenant, version).decrypt(
            nonce, envelope[header_end + NONCE_BYTES :], header + context.encode()
        )
    except InvalidTag as exc:
        raise SealingError(
            f"sealed value of {context} fails authentication (tampered, moved, or another key)"
        ) from exc


# The data keys of each engine, by its dialect (the one object column types are handed).
_KEYS: weakref.WeakKeyDictionary[Dialect, SealingKeys] = weakref.WeakKeyDictionary()


def install_keys(dialect: Dialect, keys: SealingKeys) -> None:
    """Seal the sealed columns of every statement run through ``dialect``'s engine."""
    _KEYS[dialect] = keys


def keys_of(dialect: Dialect) -> SealingKeys | None:
    """The data keys installed for ``dialect``'s engine; None: that engine does not seal (a
    ``Database`` opened without a master key, e.g. by tooling that never writes call data)."""
    return _KEYS.get(dialect)


def _seal_text(keys: SealingKeys, value: Any, context: str, text: str) -> str:
    tenant = getattr(value, "tenant_id", "")
    if not tenant:
        raise SealingError(
            f"{context} is sealed at rest: bind its value with for_tenant(tenant_id, value) "
            "(or write it through the ORM)"
        )
    envelope = seal_bytes(keys, tenant, context, text.encode("utf-8"))
    return PREFIX + base64.urlsafe_b64encode(envelope).decode("ascii")


def _open_text(dialect: Dialect, stored: str, context: str) -> TenantStr | None:
    """The plaintext of a stored ``sealed:`` value marked with the tenant that sealed it
    (the flush hooks check it is the row's), None for a legacy plain value."""
    if not stored.startswith(PREFIX):
        return None
    try:
        envelope = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    keys = keys_of(dialect)
    if keys is None:
        raise SealingError(f"{context} holds a sealed value but no master key is configured")
    tenant, _version = envelope_tenant(envelope)
    return TenantStr(open_bytes(keys, envelope, context).decode("utf-8"), tenant)


class SealedText(TypeDecorator[str]):
    """A text column stored sealed (AES-256-GCM under the row's tenant's data key).

    ``sqlite_length`` keeps the ``VARCHAR(n)`` a column was created with on SQLite, which
    does not enforce lengths (a sealed value is longer) and cannot change a column's type
    without rebuilding its table; PostgreSQL's column is ``TEXT``."""

    impl = Text
    cache_ok = True

    def __init__(self, table: str, column: str, *, sqlite_length: int | None = None) -> None:
        super().__init__()
        self.context = f"{table}.{column}"
        self.sqlite_length = sqlite_length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``VARCHAR(sqlite_length)`` on SQLite when set, else ``TEXT``."""
        if dialect.name == "sqlite" and self.sqlite_length is not None:
            return String(self.sqlite_length)
        return Text()

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Seal non-empty text (an empty value says nothing and stays as it is)."""
        keys = keys_of(dialect)
        if value is None or value == "" or keys is None:
            return value
        return _seal_text(keys, value, self.context, str(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        """Open a sealed value; a legacy plain value comes back as it was stored."""
        if value is None:
            return None
        opened = _open_text(dialect, value, self.context)
        return value if opened is None else opened


class SealedJSON(TypeDecorator[Any]):
    """A JSON column whose non-empty values are stored as one sealed JSON string."""

    impl = JSON
    cache_ok = True

    def __init__(self, table: str, column: str) -> None:
        super().__init__()
        self.context = f"{table}.{column}"

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Seal a non-empty object or array as its compact JSON text."""
        keys = keys_of(dialect)
        if not value or keys is None:
            return value
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return _seal_text(keys, value, self.context, text)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Open a sealed value; legacy plain JSON comes back as it was stored."""
        if not isinstance(value, str):
            return value
        opened = _open_text(dialect, value, self.context)
        return value if opened is None else for_tenant(opened.tenant_id, json.loads(opened))
