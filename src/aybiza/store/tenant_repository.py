"""``TenantRepository``: one table's rows as one tenant sees them.

Every service that keeps a tenant's objects (agents and their versions, phone numbers, webhook
endpoints and deliveries, API keys, calls, tools, workflows and their runs) reads and writes them
through one of these, so tenant scoping lives in one place. A row of another tenant, a
soft-deleted row, an id of the wrong shape and an id of nothing all get the same answer: the
repository's ``missing(ref)`` error (the service's ``NotFound``). A caller can thus never tell
another tenant's object from one that does not exist.

Methods that take a ``session`` work inside a transaction the service already holds (a change
that reads, checks and writes at once); ``fetch``, ``list`` and ``delete`` are whole operations,
each in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from aybiza.store.database import Database
from aybiza.store.models import Base, utcnow
from aybiza.store.paging import Page, fetch_page
from aybiza.store.queries import is_row_id

Row = TypeVar("Row", bound=Base)
Condition = ColumnElement[bool]


class TenantRepository(Generic[Row]):
    """The rows of ``model`` (a table with ``id``, ``tenant_id`` and ``created_at`` columns)
    that belong to one tenant at a time.

    ``missing(ref)`` makes the error raised for any reference that is not one of the tenant's
    live rows.
    ``deleted_at`` names the column of a table whose rows are only marked deleted (agents keep
    their row for past calls): such rows are missing for every read, and ``remove`` marks them.
    """

    def __init__(
        self,
        database: Database,
        model: type[Row],
        missing: Callable[[str], Exception],
        *,
        deleted_at: InstrumentedAttribute[datetime | None] | None = None,
    ) -> None:
        self._database = database
        self.model = model
        self._id = _column(model, "id")
        self._tenant_id = _column(model, "tenant_id")
        self._created_at = _column(model, "created_at")
        self.missing = missing
        self._deleted_at = deleted_at

    def select(self, tenant_id: str, *where: Condition) -> Select[Row]:
        """The tenant's live rows matching ``where`` (unordered)."""
        query = select(self.model).where(self._tenant_id == tenant_id, *where)
        if self._deleted_at is not None:
            query = query.where(self._deleted_at.is_(None))
        return query

    def owns(self, tenant_id: str, row: Row | None) -> bool:
        """Whether ``row`` is one of the tenant's live rows."""
        if row is None or getattr(row, self._tenant_id.key) != tenant_id:
            return False
        return self._deleted_at is None or getattr(row, self._deleted_at.key) is None

    async def find(self, session: AsyncSession, tenant_id: str, row_id: str) -> Row | None:
        """The tenant's row with this id, or None (another tenant's row is None too)."""
        # Anything not shaped like our ids cannot match a row: no query for it.
        row = await session.get(self.model, row_id) if is_row_id(row_id) else None
        return row if self.owns(tenant_id, row) else None

    async def get(self, session: AsyncSession, tenant_id: str, row_id: str) -> Row:
        """The tenant's row with this id; ``missing(row_id)`` otherwise."""
        row = await self.find(session, tenant_id, row_id)
        if row is None:
            raise self.missing(row_id)
        return row

    async def first(self, session: AsyncSession, tenant_id: str, *where: Condition) -> Row | None:
        """The first of the tenant's rows matching ``where`` (a name, a CallSid), or None."""
        rows = await session.execute(self.select(tenant_id, *where).limit(1))
        return rows.scalars().first()

    async def all(self, session: AsyncSession, tenant_id: str, *where: Condition) -> Sequence[Row]:
        """Every one of the tenant's rows matching ``where``."""
        return list((await session.execute(self.select(tenant_id, *where))).scalars())

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        *where: Condition,
        cursor: str | None,
        limit: int,
    ) -> Page[Row]:
        """The tenant's rows matching ``where``, newest first, ``limit`` after ``cursor``."""
        page: Page[Row] = await fetch_page(
            session,
            self.select(tenant_id, *where),
            created_at=self._created_at,
            row_id=self._id,
            cursor=cursor,
            limit=limit,
        )
        return page

    def add(self, session: AsyncSession, tenant_id: str, row: Row) -> Row:
        """Insert ``row`` as the tenant's (whatever tenant it was made with)."""
        setattr(row, self._tenant_id.key, tenant_id)
        session.add(row)
        return row

    async def remove(self, session: AsyncSession, row: Row) -> None:
        """Delete ``row`` (or mark it deleted, for a table that keeps its rows)."""
        if self._deleted_at is not None:
            setattr(row, self._deleted_at.key, utcnow())
        else:
            await session.delete(row)

    async def insert_unique(
        self, tenant_id: str, row: Row, *same: Condition, taken: Exception
    ) -> Row:
        """Insert ``row`` as the tenant's in a transaction of its own, unless one of the
        tenant's rows matches ``same`` (its name): then ``taken`` is raised, also when another
        request inserted it at the same moment (the table's unique constraint refused it)."""
        try:
            async with self._database.writing() as session:
                if await self.first(session, tenant_id, *same) is not None:
                    raise taken
                self.add(session, tenant_id, row)
        except IntegrityError as exc:
            raise taken from exc
        return row

    async def fetch(self, tenant_id: str, row_id: str) -> Row:
        """``get`` in a transaction of its own."""
        async with self._database.session() as session:
            return await self.get(session, tenant_id, row_id)

    async def list(
        self, tenant_id: str, *where: Condition, cursor: str | None, limit: int
    ) -> Page[Row]:
        """``page`` in a transaction of its own."""
        async with self._database.session() as session:
            return await self.page(session, tenant_id, *where, cursor=cursor, limit=limit)

    async def update(self, tenant_id: str, row_id: str, **values: Any) -> Row:
        """Set ``values`` (column name to value) on the tenant's row with this id, in a
        transaction of its own; returns the row."""
        async with self._database.writing() as session:
            row = await self.get(session, tenant_id, row_id)
            for name, value in values.items():
                setattr(row, name, value)
            return row

    async def delete(self, tenant_id: str, row_id: str) -> Row:
        """Remove the tenant's row with this id in a transaction of its own; returns it."""
        async with self._database.writing() as session:
            row = await self.get(session, tenant_id, row_id)
            await self.remove(session, row)
            return row


def _column(model: type[Base], name: str) -> InstrumentedAttribute[Any]:
    column = getattr(model, name, None)
    if not isinstance(column, InstrumentedAttribute):
        raise TypeError(f"{model.__name__} has no {name!r} column, so it is not tenant-owned")
    return column
