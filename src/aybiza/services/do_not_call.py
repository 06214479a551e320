"""The tenant's do-not-call list: numbers its campaigns never dial (checked when a campaign is
created and again just before each call)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.errors import Conflict, NotFound
from aybiza.store.campaign_models import DoNotCall
from aybiza.store.database import Database
from aybiza.store.models import new_id, utcnow
from aybiza.store.paging import Page, fetch_page


async def blocked_numbers(
    session: AsyncSession, tenant_id: str, numbers: Sequence[str]
) -> set[str]:
    """Which of ``numbers`` are on the tenant's list."""
    found: set[str] = set()
    for start in range(0, len(numbers), 500):
        rows = await session.execute(
            select(DoNotCall.number).where(
                DoNotCall.tenant_id == tenant_id,
                DoNotCall.number.in_(list(numbers[start : start + 500])),
            )
        )
        found.update(str(number) for number in rows.scalars())
    return found


class DoNotCallList:
    """Adding, listing and removing do-not-call numbers."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, tenant_id: str, number: str, reason: str | None) -> DoNotCall:
        """Put ``number`` on the list; ``Conflict`` when it is already there."""
        row = DoNotCall(
            id=new_id(), tenant_id=tenant_id, number=number, reason=reason, created_at=utcnow()
        )
        try:
            async with self._database.writing() as session:
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(
                "the number is already on the do-not-call list", field="number", code="duplicate"
            ) from exc
        return row

    async def page(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[DoNotCall]:
        """The list, newest first."""
        async with self._database.session() as session:
            return await fetch_page(
                session,
                select(DoNotCall).where(DoNotCall.tenant_id == tenant_id),
                created_at=DoNotCall.created_at,
                row_id=DoNotCall.id,
                cursor=cursor,
                limit=limit,
            )

    async def remove(self, tenant_id: str, number: str) -> None:
        """Take ``number`` off the list; ``NotFound`` when it is not on it."""
        async with self._database.writing() as session:
            rows = await session.execute(
                select(DoNotCall).where(
                    DoNotCall.tenant_id == tenant_id, DoNotCall.number == number
                )
            )
            row = rows.scalars().first()
            if row is None:
                raise NotFound("the number is not on the do-not-call list", field="number")
            await session.delete(row)
