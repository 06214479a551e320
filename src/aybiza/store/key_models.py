"""The data keys that seal tenants' call data (``aybiza.store.field_keys``): one row per tenant
and key version, holding the key only wrapped by the master key (a key file or AWS KMS) and the
id of the master key that wrapped it. Created by the migration ``0310_field_encryption``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aybiza.store.models import Base, new_id, utcnow


class DataKey(Base):
    """One version of a tenant's data key (``tenant_id`` is a tenant's id, or ``platform``).

    ``wrapped`` is the base64 of the master key's ciphertext of the 32-byte key; rotating the
    master key replaces ``wrapped`` and ``master_key_id`` in place (``rewrapped_at``), the key
    itself and the data it sealed stay as they are."""

    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[str] = mapped_column(Text)
    master_key_id: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rewrapped_at: Mapped[datetime | None]
