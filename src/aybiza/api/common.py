"""Shapes shared by the API's list endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from aybiza.store.paging import DEFAULT_LIMIT, MAX_LIMIT, Page

T = TypeVar("T")
Row = TypeVar("Row")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[
    str | None,
    Query(max_length=300, description="`next_cursor` of the previous page."),
]
DEFAULT_PAGE = DEFAULT_LIMIT


class ListOf(BaseModel, Generic[T]):
    """A page of results, newest first."""

    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


def listed(page: Page[Row], out: Callable[[Row], T]) -> ListOf[T]:
    """A page of rows as the API lists them, each shown by ``out``."""
    return ListOf(data=[out(row) for row in page.items], next_cursor=page.next_cursor)
