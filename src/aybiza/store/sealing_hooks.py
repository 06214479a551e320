"""Marks the values of sealed columns with their row's tenant before they are written.

ORM rows are marked by a ``before_flush`` hook on every session: each new or changed value of
a ``SealedText``/``SealedJSON`` column gets its row's ``tenant_id``, the tenant's data key is
made ready in the flushing transaction, and a sealed column's blind index (``BLIND_INDEXES``)
is recomputed. Core statements (a batched ``insert``, an ``update(...).values``) skip the ORM,
so they mark their values with ``sealed_values``. Either way the encryption itself happens in
the column type (``aybiza.store.sealing``), the one place every write goes through.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from aybiza.store.field_keys import FieldKeys
from aybiza.store.models import Base, Call
from aybiza.store.sealing import (
    PLATFORM_TENANT,
    SealedJSON,
    SealedText,
    SealingError,
    for_tenant,
    keys_of,
)

# Sealed column -> the column holding its blind index (HMAC), per table.
BLIND_INDEXES: dict[type[Base], dict[str, str]] = {
    Call: {"from_number": "from_number_index", "to_number": "to_number_index"},
}


def sealed_columns(model: type[Base]) -> tuple[str, ...]:
    """The attributes of ``model`` stored sealed."""
    found = _SEALED.get(model)
    if found is None:
        found = _SEALED[model] = _find_sealed(model)
    return found


_SEALED: dict[type[Base], tuple[str, ...]] = {}


def _find_sealed(model: type[Base]) -> tuple[str, ...]:
    return tuple(
        attribute.key
        for attribute in inspect(model).column_attrs
        if isinstance(attribute.columns[0].type, SealedText | SealedJSON)
    )


async def sealed_values(
    session: AsyncSession, model: type[Base], tenant_id: str | None, values: dict[str, Any]
) -> dict[str, Any]:
    """``values`` for a Core statement on ``model``'s table with the sealed ones marked for
    ``tenant_id`` (whose key is made ready in ``session``'s transaction) and their blind
    indexes added. Without field keys on the session's engine the values are returned as
    they are."""
    bind = session.bind
    keys = keys_of(bind.dialect) if bind is not None else None
    if not isinstance(keys, FieldKeys):
        return values
    tenant = tenant_id or PLATFORM_TENANT
    await keys.ensure(session, tenant)
    marked = dict(values)
    indexes = BLIND_INDEXES.get(model, {})
    for column in sealed_columns(model):
        if column in marked:
            marked[column] = for_tenant(tenant, marked[column])
            if column in indexes:
                marked[indexes[column]] = _index(keys, tenant, marked[column])
    return marked


@event.listens_for(Base, "load", propagate=True)
@event.listens_for(Base, "refresh", propagate=True)
def _check_tenant_of_sealed_values(row: Base, _context: Any, *_attributes: Any) -> None:
    """A sealed value opens only in a row of the tenant that sealed it: one copied into
    another tenant's row (its envelope names its own tenant) is refused."""
    columns = sealed_columns(type(row))
    if not columns:
        return
    tenant = getattr(row, "tenant_id", None) or PLATFORM_TENANT
    state = inspect(row)
    for column in columns:
        if column in state.unloaded:
            continue
        sealed_for = getattr(state.dict.get(column), "tenant_id", tenant)
        if sealed_for != tenant:
            raise SealingError(
                f"{row.__tablename__}.{column} of a row of tenant {tenant} was sealed for "
                f"tenant {sealed_for}: refused"
            )


def _index(keys: FieldKeys, tenant: str, value: Any) -> str | None:
    return keys.blind_index(tenant, value) if isinstance(value, str) and value else None


@event.listens_for(Session, "before_flush")
def _mark_sealed_values(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    bind = session.bind
    keys = keys_of(bind.dialect) if bind is not None else None
    if not isinstance(keys, FieldKeys):
        return
    new = set(map(id, session.new))
    for row in chain(session.new, session.dirty):
        columns = sealed_columns(type(row))
        if not columns:
            continue
        state = inspect(row)
        changed = [
            column
            for column in columns
            if id(row) in new or state.attrs[column].history.has_changes()
        ]
        if not changed:
            continue
        tenant = getattr(row, "tenant_id", None) or PLATFORM_TENANT
        keys.ensure_in(session, tenant)
        indexes = BLIND_INDEXES.get(type(row), {})
        for column in changed:
            value = getattr(row, column)
            if getattr(value, "tenant_id", None) != tenant:
                setattr(row, column, for_tenant(tenant, value))
            if column in indexes:
                setattr(row, indexes[column], _index(keys, tenant, value))
