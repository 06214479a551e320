"""``within``: ``asyncio.wait_for`` without its Python 3.11 race.

On 3.11, ``asyncio.wait_for`` loses a cancellation that arrives in the same loop iteration as
the awaited thing completing (CPython bpo-42130; 3.12 rebuilt ``wait_for`` on
``asyncio.timeout``): the cancelled task carries on as if nothing had happened. A task that waits
in a loop with it (an event with a timeout) can then never be stopped; a simulated caller's
hang-up waited forever for its mark echoer this way. ``asyncio.timeout`` counts cancellations
(``Task.uncancel``) and has no such race.

``asyncio.timeout`` needs a current task. Code run straight from a protocol callback (the Media
Streams fast path, ``eager_start.py``) has none until its first wait; there ``within``
falls back to ``asyncio.wait_for``, whose race needs a task to cancel and so cannot happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``seconds`` (None: no limit)."""
    if asyncio.current_task() is None:
        return await asyncio.wait_for(awaitable, seconds)
    async with asyncio.timeout(seconds):
        return await awaitable
