"""Cursor paging, newest first: a cursor is the (created_at, id) of the last row returned."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class CursorError(ValueError):
    """A cursor that this server did not hand out."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Some rows and the cursor for the next page (None on the last page)."""

    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: str) -> str:
    """The opaque cursor after a row."""
    raw = f"{created_at.astimezone(UTC).isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor points after; CursorError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        stamp, row_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise CursorError("not a cursor returned by this API") from exc
    if created_at.tzinfo is None or not row_id.isalnum() or len(row_id) > 64:
        raise CursorError("not a cursor returned by this API")
    return created_at, row_id


async def fetch_page(
    session: AsyncSession,
    query: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str],
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    """Run ``query`` (selecting one entity) newest first, after ``cursor``, ``limit`` rows."""
    if cursor is not None:
        after_at, after_id = decode_cursor(cursor)
        query = query.where(
            or_(created_at < after_at, and_(created_at == after_at, row_id < after_id))
        )
    rows = list(
        (await session.execute(query.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)))
        .scalars()
        .all()
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return Page(items=rows, next_cursor=next_cursor)
