"""``start_eagerly``: a coroutine runs now, and only one that waits becomes a task."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from aybiza.eager_start import start_eagerly

CALL = contextvars.ContextVar("CALL", default="none")


async def test_a_coroutine_that_never_waits_finishes_at_once_without_a_task() -> None:
    steps: list[str] = []

    async def handle() -> int:
        steps.append("ran")
        return 7

    task, result = start_eagerly(handle(), contextvars.copy_context())
    assert (task, result) == (None, 7)
    assert steps == ["ran"]


async def test_one_that_waits_runs_up_to_the_wait_now_and_the_rest_in_a_task() -> None:
    steps: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handle() -> str:
        steps.append("before")
        value = await gate
        steps.append(f"after {value}")
        assert asyncio.current_task() is not None
        return value.upper()

    task, result = start_eagerly(handle(), contextvars.copy_context())
    assert task is not None and result is None
    assert steps == ["before"]
    gate.set_result("go")
    assert await task == "GO"
    assert steps == ["before", "after go"]


async def test_an_exception_before_any_wait_is_raised_to_the_caller() -> None:
    async def handle() -> None:
        raise ValueError("bad frame")

    with pytest.raises(ValueError, match="bad frame"):
        start_eagerly(handle(), contextvars.copy_context())


async def test_an_exception_after_a_wait_ends_the_task_with_it() -> None:
    async def handle() -> None:
        await asyncio.sleep(0)
        raise ValueError("late")

    task, _ = start_eagerly(handle(), contextvars.copy_context())
    assert task is not None
    with pytest.raises(ValueError, match="late"):
        await task


async def test_cancelling_the_task_reaches_the_coroutine() -> None:
    cleaned: list[bool] = []

    async def handle() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(True)

    task, _ = start_eagerly(handle(), contextvars.copy_context())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_both_parts_run_in_the_given_context() -> None:
    CALL.set("CA1")
    context = contextvars.copy_context()
    CALL.set("other")
    seen: list[str] = []

    async def handle() -> None:
        seen.append(CALL.get())
        await asyncio.sleep(0)
        seen.append(CALL.get())

    task, _ = start_eagerly(handle(), context)
    assert task is not None
    await task
    assert seen == ["CA1", "CA1"]
