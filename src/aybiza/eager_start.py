"""Run a coroutine at once, in the calling callback, and hand it to a task only if it waits.

What Python 3.12's eager tasks do, for 3.11: a Media Streams frame is handled from the socket's
``data_received`` callback, and most frames never wait for anything (the call loop buffers the
audio, the voice detector runs, nothing blocks). Waking a task per frame for that costs more
than the frame's own handling. ``start_eagerly`` steps the coroutine until its first real
suspension; if it finishes there, no task existed. If it suspends, a ``Task`` (in the same
``contextvars`` context) takes it from that point, with the future it waits on.

Until its first suspension the coroutine runs with no current task: code there must not need
``asyncio.current_task()`` to be its own (``asyncio.timeout`` does); what it awaits after that
runs in the task as usual.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class _Continuation:
    """The rest of a coroutine already stepped once, awaitable by a task: yields what the
    coroutine yielded first, then passes the task's sends and throws through."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # the task's cancel, or a future's exception
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(continuation: _Continuation) -> Any:
    return await continuation


def start_eagerly(
    coro: Coroutine[Any, Any, T], context: contextvars.Context
) -> tuple[asyncio.Task[T] | None, T | None]:
    """Step ``coro`` in ``context`` now: ``(None, its result)`` when it finished (its
    exception, if any, is raised here), else ``(the task that finishes it, None)``."""
    try:
        first = context.run(coro.send, None)
    except StopIteration as stop:
        return None, stop.value
    task = asyncio.get_running_loop().create_task(
        _finish(_Continuation(coro, first)), context=context
    )
    return task, None
