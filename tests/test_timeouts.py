"""``within`` keeps a cancellation that arrives together with the awaited result (the race
that made Python 3.11's ``asyncio.wait_for`` lose it and left a caller's hang-up waiting)."""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import copy_context

import pytest

from aybiza.eager_start import start_eagerly
from aybiza.timeouts import within


async def test_a_cancel_that_comes_with_the_result_stops_the_waiting_loop() -> None:
    changed = asyncio.Event()
    rounds = 0

    async def wait_for_changes() -> None:
        nonlocal rounds
        while True:
            with contextlib.suppress(TimeoutError):
                await within(changed.wait(), 10)
            changed.clear()
            rounds += 1

    task = asyncio.create_task(wait_for_changes())
    await asyncio.sleep(0)  # the loop now waits on the event
    changed.set()  # the result and the cancellation land in the same loop iteration
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done, "the cancelled loop went on waiting"
    assert task.cancelled()
    assert rounds == 0


async def test_it_times_out_and_returns_results() -> None:
    never = asyncio.Event()
    with pytest.raises(TimeoutError):
        await within(never.wait(), 0.01)
    assert await within(asyncio.sleep(0, result="ok"), None) == "ok"


async def test_without_a_current_task_it_still_times_out() -> None:
    # Stepped from a loop callback, as the Media Streams fast path steps a frame's handling:
    # no current task until the first wait.
    loop = asyncio.get_running_loop()
    started: asyncio.Future[asyncio.Task[str] | None] = loop.create_future()

    async def guarded() -> str:
        try:
            await within(asyncio.Event().wait(), 0.01)
        except TimeoutError:
            return "timed out"
        return "woken"

    loop.call_soon(lambda: started.set_result(start_eagerly(guarded(), copy_context())[0]))
    task = await asyncio.wait_for(started, 5)  # the step raised, without the fallback
    assert task is not None
    assert await task == "timed out"
