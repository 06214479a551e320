"""One model round's tool calls, run in order, and what a barge-in leaves of them.

Every tool use the model made gets a result in the context, whatever happens, because the model
refuses a conversation with a tool use left unanswered (Bedrock: ``ValidationException``). When
the caller interrupts (the answer's task is cancelled):

- a call that had not started is never run (nothing reaches its target); its result says the
  caller cancelled it before it ran;
- a call that was running is cancelled, and its result says so, unless its policy finishes it on
  barge-in: then it runs to the end and its result replaces the placeholder put in the context;
- a call that had finished keeps its own result: it is recorded as done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from aybiza.analytics import tracing
from aybiza.conversation.engine import Conversation
from aybiza.conversation.tools import ToolPolicy, ToolRunner
from aybiza.providers.base import ToolCall, ToolResult

log = structlog.get_logger(__name__)

PhraseSpeaker = Callable[[str], Awaitable[None]]

CANCELLED_BEFORE_IT_RAN = "cancelled by the caller before it ran; nothing was done"
CANCELLED_WHILE_RUNNING = "cancelled by the caller while it was running; it may not have completed"
FINISHING = "the caller interrupted while it was running; it is finishing and its result follows"


@dataclass(slots=True)
class _Run:
    """One tool call on its way: ``started`` once the runner has it."""

    call: ToolCall
    policy: ToolPolicy
    started_at: float
    task: asyncio.Task[ToolResult] | None = None
    started: bool = False


class ToolBatch:
    """Runs tool calls for one answer; ``runs`` (the turn record's ``tool_runs``) gets an entry
    per call that ran or was cancelled."""

    def __init__(
        self,
        runner: ToolRunner,
        conversation: Conversation,
        *,
        limit: int,
        runs: list[dict[str, Any]],
        speak_phrase: PhraseSpeaker | None = None,
    ) -> None:
        self._runner = runner
        self._conversation = conversation
        self._limit = limit
        self._runs = runs
        self._speak_phrase = speak_phrase

    async def run(self, calls: list[ToolCall], budget: int) -> int:
        """Run ``calls`` in order, at most ``budget`` of them (the rest get an error result),
        and put every result in the context, also when cancelled or failing. Returns how many
        were run."""
        results: dict[str, ToolResult] = {}
        current: _Run | None = None
        used = 0
        try:
            for call in calls:
                if used >= budget:
                    results[call.id] = over_budget(call, self._limit)
                    continue
                used += 1
                current = _Run(call, self._runner.policy(call.name), time.monotonic())
                results[call.id] = await self._run_one(current)
                current = None
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError)
            for call in calls:
                if call.id not in results:
                    run = current if current is not None and current.call is call else None
                    results[call.id] = self._interrupted(call, run, cancelled=cancelled)
            self._conversation.add_tool_results([results[call.id] for call in calls])
            unwinding = current.task if current is not None else None
            if unwinding is not None and not _finishes_anyway(current):
                # Let the cancelled tool unwind, so its runner has recorded it when the answer
                # ends; cancelling is prompt, the tool's work is not waited for.
                await asyncio.wait({unwinding})
            raise
        self._conversation.add_tool_results([results[call.id] for call in calls])
        return used

    async def _run_one(self, run: _Run) -> ToolResult:
        if run.policy.speak_during_execution and self._speak_phrase is not None:
            await self._speak_phrase(run.policy.speak_during_execution)
        run.task = asyncio.create_task(self._execute(run), name=f"tool-{run.call.name}")
        # A tool that must finish is shielded: a barge-in cancels the answer, not the tool.
        result = await (asyncio.shield(run.task) if run.policy.finish_on_barge_in else run.task)
        self._note(run, result)
        return result

    async def _execute(self, run: _Run) -> ToolResult:
        run.started = True
        call, timeout_s = run.call, run.policy.timeout_s
        with tracing.stage("tool", **{"aybiza.tool": call.name}) as span:
            try:
                async with asyncio.timeout(timeout_s):
                    result = await self._runner.run(call)
            except TimeoutError:
                result = ToolResult(
                    call.id, {"error": f"{call.name} timed out after {timeout_s:g} s"}, True
                )
            if span is not None:
                span.set_attribute("aybiza.tool_error", result.is_error)
            return result

    def _interrupted(self, call: ToolCall, run: _Run | None, *, cancelled: bool) -> ToolResult:
        """The result of a call the answer stopped waiting for."""
        task = run.task if run is not None else None
        if run is None or task is None or not run.started:
            if task is not None:
                task.cancel()  # created but not started: it must not reach its target now
            why = CANCELLED_BEFORE_IT_RAN if cancelled else "not run: the answer failed"
            self._note_cancelled(call, run, "before it ran")
            return ToolResult(call.id, {"error": why}, is_error=True)
        if task.done() and not task.cancelled():
            result = _outcome(call, task)  # it finished as the caller interrupted: done
            self._note(run, result)
            return result
        if run.policy.finish_on_barge_in and not task.done():
            task.add_done_callback(lambda done: self._finished_late(run, done))
            self._note_cancelled(call, run, "finishing")
            return ToolResult(call.id, {"status": FINISHING})
        self._note_cancelled(call, run, "while running")
        return ToolResult(call.id, {"error": CANCELLED_WHILE_RUNNING}, is_error=True)

    def _finished_late(self, run: _Run, task: asyncio.Task[ToolResult]) -> None:
        """A shielded tool finished after the barge-in: its own result replaces the
        placeholder, so the model's next answer knows what was done."""
        result = _outcome(run.call, task)
        if not self._conversation.replace_tool_result(result):
            log.warning("answer.late_tool_result_lost", tool=run.call.name)

    def _note(self, run: _Run, result: ToolResult) -> None:
        self._runs.append(
            {
                "name": run.call.name,
                "arguments": run.call.arguments,
                "is_error": result.is_error,
                "duration_ms": round((time.monotonic() - run.started_at) * 1000, 1),
            }
        )

    def _note_cancelled(self, call: ToolCall, run: _Run | None, when: str) -> None:
        started = run.started_at if run is not None else time.monotonic()
        self._runs.append(
            {
                "name": call.name,
                "arguments": call.arguments,
                "is_error": when != "finishing",
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                "cancelled": when,
            }
        )


def _finishes_anyway(run: _Run | None) -> bool:
    """Whether the interrupted run goes on (its policy finishes it on barge-in)."""
    return run is not None and run.policy.finish_on_barge_in


def over_budget(call: ToolCall, limit: int) -> ToolResult:
    """The result of a call past the turn's ``automation.max_tool_calls``."""
    message = f"not run: at most {limit} tool calls per caller turn (automation.max_tool_calls)"
    return ToolResult(call.id, {"error": message}, is_error=True)


def _outcome(call: ToolCall, task: asyncio.Task[ToolResult]) -> ToolResult:
    """What a finished tool task left: its result, or an error result."""
    if task.cancelled():
        return ToolResult(call.id, {"error": CANCELLED_WHILE_RUNNING}, is_error=True)
    error = task.exception()
    if error is not None:
        message = f"{call.name} failed unexpectedly: {type(error).__name__}"
        return ToolResult(call.id, {"error": message}, is_error=True)
    return task.result()
