"""Rotating the master key that wraps the tenants' data keys (``aybiza keys rotate``).

With a key file a new version is appended to the file, then every data key is re-wrapped by
it. With AWS KMS every data key is re-encrypted (``ReEncrypt``) to the key given (a new KMS
key; set ``AYBIZA_KMS_KEY_ID`` to it afterwards) or to the configured key again (which picks up
key material KMS rotated itself). Data keys do not change, so no sealed value is re-encrypted,
and running processes keep sealing and opening with the keys they hold: no downtime. Each
wrapped key is swapped in its own conditional update (``FieldKeys.rewrap_all``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aybiza.config import Settings
from aybiza.security.master_keys import KeyFileMasterKey, master_key_for
from aybiza.store.database import Database


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did: how many data keys it re-wrapped, and by which master key."""

    rewrapped: int
    master_key_id: str


async def rotate_master_key(
    settings: Settings,
    *,
    kms_key_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Rotation:
    """Re-wrap every data key of the configured database with a new master key version
    (key file) or the KMS key ``kms_key_id`` (default: the configured one)."""
    master = master_key_for(settings, kms_key_id=kms_key_id)
    if isinstance(master, KeyFileMasterKey):
        master.add_version()
    database = Database(settings.database_url, master_key=master)
    try:
        assert database.field_keys is not None, "a master key was given"
        count = await database.field_keys.rewrap_all(progress)
    finally:
        await database.dispose()
    return Rotation(count, master.key_id)
