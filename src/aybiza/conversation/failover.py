"""Answer from the first model that can: fail over on errors, hedge on slowness.

A turn tries its models in order. When the current attempt fails with a retryable error before
producing anything, the next model starts at once. When it has produced nothing by the
deadline (the agent's ``max_response_time``), the next model starts *alongside* it, and
whichever produces first wins (the other is cancelled): a slow model still gets its chance, and
the caller waits no longer than the faster of the two. Once an attempt has produced output, the
answer stays with it: switching models mid-sentence would garble what the caller hears.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from aybiza.analytics import metrics
from aybiza.providers.base import LlmEvent, LlmRequest, LlmSession
from aybiza.providers.errors import EngineError
from aybiza.timeouts import within


@dataclass(frozen=True, slots=True)
class Attempt:
    """One model tried for a turn and what became of it (``won``, ``slow``, or an error)."""

    model: str
    outcome: str


class _Finished:
    pass


_FINISHED = _Finished()
_Item = LlmEvent | BaseException | _Finished


async def respond_with_failover(
    session: LlmSession,
    request_for: Callable[[str], LlmRequest],
    models: Sequence[str],
    *,
    deadline_s: float | None,
    attempts: list[Attempt],
    engine: str = "",
) -> AsyncIterator[LlmEvent]:
    """Stream the answer of the first model to produce output; ``attempts`` is filled in with
    every model tried and its outcome (for the turn record)."""
    queue: asyncio.Queue[tuple[int, _Item]] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []
    failed: set[int] = set()

    def start(index: int) -> None:
        tasks.append(asyncio.create_task(_pump(session, request_for(models[index]), index, queue)))

    start(0)
    winner: int | None = None
    try:
        while winner is None:
            timeout = deadline_s if len(tasks) < len(models) else None
            try:
                index, item = await within(queue.get(), timeout)
            except TimeoutError:
                attempts.append(Attempt(models[len(tasks) - 1], "slow"))
                metrics.ENGINE_ERRORS.labels("llm_slow_hedge", engine).inc()
                start(len(tasks))
                continue
            if isinstance(item, EngineError) and item.retryable:
                failed.add(index)
                attempts.append(Attempt(models[index], type(item).__name__))
                metrics.ENGINE_ERRORS.labels("llm_failover", engine).inc()
                if len(tasks) < len(models):
                    start(len(tasks))
                    continue
                if len(failed) == len(tasks):
                    raise item
                continue
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _Finished):
                # An attempt that ended without producing anything still counts as an answer.
                attempts.append(Attempt(models[index], "won"))
                return
            winner = index
            attempts.append(Attempt(models[index], "won"))
            for other, task in enumerate(tasks):
                if other != winner:
                    task.cancel()
            yield item
        while True:
            index, item = await queue.get()
            if index != winner:
                continue
            if isinstance(item, _Finished):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _pump(
    session: LlmSession, request: LlmRequest, index: int, queue: asyncio.Queue[tuple[int, _Item]]
) -> None:
    try:
        async for event in session.respond(request):
            queue.put_nowait((index, event))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        queue.put_nowait((index, exc))
        return
    queue.put_nowait((index, _FINISHED))
