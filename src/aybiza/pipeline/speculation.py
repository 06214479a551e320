"""Speculative answers: the model starts on what the caller has said before the turn is over.

The end of a turn waits on the recogniser's final and the turn detector; the model's first
token and the first sentence's synthesis then add their own delays. When an interim (or a
final) transcript already reads as a finished turn (``turn_completeness.is_finished``) while
the turn has not ended, the call loop starts the answer to that text at once, held: the model
streams and the first sentence is synthesized, but nothing is played (``AgentAnswer`` with a
``release`` event). Then:

- the turn ends with the same words (case and punctuation aside): the held answer is released
  and plays at once; it becomes the turn's answer, recorded like any other;
- the caller goes on (the text changes) or the turn ends with other words: the held answer is
  cancelled and discarded. Nothing of it reaches the transcript, the context or the turn
  records; what the engines reported it used (tokens, characters synthesized) is counted in
  the call's ``stats.speculative`` and priced as ``speculative`` in the call's cost.

One speculation at a time per call; ``parameters.speculative_answers`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aybiza.analytics.recording import CallStats
from aybiza.conversation.engine import Conversation
from aybiza.conversation.turn_completeness import is_finished
from aybiza.pipeline.answer_turn import AnswerFactory
from aybiza.pipeline.timings import TurnTimings
from aybiza.pipeline.turn_record import AgentTurn
from aybiza.pipeline.voices import CallVoices

_WORD = re.compile(r"[a-z0-9']+")


def words_of(text: str) -> tuple[str, ...]:
    """The words of ``text`` as compared: lower case, without punctuation."""
    return tuple(_WORD.findall(text.lower().replace("’", "'")))


@dataclass(slots=True)
class Speculation:
    """A held answer to ``text``: its turn (not the call's current one), the copy of the
    conversation it answers, and the event that lets it play."""

    words: tuple[str, ...]
    turn: AgentTurn
    conversation: Conversation
    release: asyncio.Event


# Runs a turn's answer until it settles (the call loop's ``_run_turn``).
RunTurn = Callable[[AgentTurn], Coroutine[Any, Any, None]]
# Makes a turn the call's next and current one: (turn, speech end, heard at).
BeginTurn = Callable[[AgentTurn, float, "float | None"], None]


@dataclass(frozen=True, slots=True)
class CallHooks:
    """The call loop's side: its context, how answers are built, run and begun, its counters
    and voices (cleared after a discarded answer that was being synthesized)."""

    conversation: Conversation
    answers: AnswerFactory
    run: RunTurn
    begin: BeginTurn
    stats: CallStats
    voices: CallVoices


class Speculator:
    """Starts, discards and hands over one call's speculative answers."""

    def __init__(self, enabled: bool, hooks: CallHooks) -> None:
        self.enabled = enabled
        self._hooks = hooks
        self._conversation = hooks.conversation
        self._stats = hooks.stats
        self.pending: Speculation | None = None

    async def heard(self, text: str) -> None:
        """Words the caller has said so far in this turn, turn not over: keep the held answer
        if they are its words, else discard it and start one when they read as finished."""
        if not self.enabled:
            return
        words = words_of(text)
        if self.pending is not None:
            if self.pending.words == words:
                return
            await self.discard()
        if not words or not is_finished(text):
            return
        release = asyncio.Event()
        fork = self._conversation.fork(text)
        timings = TurnTimings(speech_end=time.monotonic())  # set when the turn ends
        turn = self._hooks.answers.turn(text, timings, fork, release)
        turn.speculative = True
        turn.task = asyncio.create_task(self._hooks.run(turn), name="turn-speculative")
        self.pending = Speculation(words, turn, fork, release)
        self._count("started")

    async def take(self, text: str, timings: TurnTimings) -> bool:
        """The turn ended with ``text`` (``timings``: when it ended and was heard): True when
        the held answer answers those words (and the context is still the one it was started
        from); it is then the call's current turn, in the conversation, playing. Else False,
        the held answer (if any) discarded."""
        pending = self.pending
        if pending is None:
            return False
        task = pending.turn.task
        answer = pending.turn.answer
        usable = (
            pending.words == words_of(text)
            and task is not None
            and not task.done()
            and answer is not None
            and answer.error is None
            and self._conversation.adopt(pending.conversation)
        )
        if not usable or answer is None:
            await self.discard()
            return False
        self.pending = None
        pending.turn.speculative = False
        self._count("used")
        answer.timings.speech_end = timings.speech_end
        answer.timings.stt_final = timings.stt_final
        self._hooks.begin(pending.turn, timings.speech_end, timings.stt_final)
        pending.release.set()
        return True

    async def discard(self) -> None:
        """Cancel the held answer (if any); its turn settles as discarded."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        task = pending.turn.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        answer = pending.turn.answer
        if answer is not None and answer.utterance.sentences:
            # A streaming synthesizer may still hold the first sentence's text or audio.
            await self._hooks.voices.clear()

    def settled(self, turn: AgentTurn) -> None:
        """A discarded held turn ended: count what its engines used, as speculative."""
        self._count("discarded")
        answer = turn.answer
        if answer is None:
            return
        usage = self._usage()
        if answer.end is not None:
            model = answer.model or "unknown"
            tokens = usage.setdefault(model, {"input_tokens": 0, "output_tokens": 0})
            tokens["input_tokens"] += answer.end.usage.input_tokens
            tokens["output_tokens"] += answer.end.usage.output_tokens
        else:
            self._count("without_usage")  # cancelled before the engine reported its usage
        synthesized = sum(len(s.text) for s in answer.utterance.sentences)
        if synthesized:
            self._count("tts_characters", synthesized)

    def _count(self, name: str, amount: int = 1) -> None:
        record = self._record()
        value = record.get(name, 0)
        record[name] = (value if isinstance(value, int) else 0) + amount

    def _usage(self) -> dict[str, dict[str, int]]:
        record = self._record()
        usage = record.setdefault("by_model", {})
        assert isinstance(usage, dict)
        return usage

    def _record(self) -> dict[str, object]:
        if self._stats.speculative is None:
            self._stats.speculative = {}
        return self._stats.speculative
