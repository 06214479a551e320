"""One agent answer: model text streamed into sentences, each synthesized and played at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from aybiza.analytics import metrics
from aybiza.conversation.engine import Conversation, FirstToken, Sentence
from aybiza.conversation.failover import Attempt
from aybiza.conversation.tools import CALL_ENDING, ToolRunner
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.timings import TurnTimings
from aybiza.providers.base import AnswerEnd, ToolCall, ToolResult, TtsSession, Usage

log = structlog.get_logger(__name__)

FillerSource = Callable[[], Awaitable[bytes]]
PhraseSpeaker = Callable[[str], Awaitable[None]]


class AgentAnswer:
    """Runs one answer. The model streams into a queue of sentences while the previous sentence
    is synthesized and played, so the model never waits on speech and speech never waits on the
    rest of the answer. Cancelling ``run()`` (barge-in) stops the model and synthesis at once;
    the attributes keep what was produced so far for the turn record.
    """

    def __init__(
        self,
        *,
        conversation: Conversation,
        tts: TtsSession,
        playout: Playout,
        timings: TurnTimings,
        models: tuple[str, ...] = (),
        engine: str = "",
        filler: FillerSource | None = None,
        max_response_s: float = 1.5,
        runner: ToolRunner | None = None,
        max_tool_calls: int = 5,
        speak_phrase: PhraseSpeaker | None = None,
    ) -> None:
        self._runner = runner
        self._max_tool_calls = max_tool_calls
        self._speak_phrase = speak_phrase
        self._conversation = conversation
        self._tts = tts
        self._models = models
        self._engine = engine
        self._playout = playout
        self.timings = timings
        self._filler = filler
        self._max_response_s = max_response_s
        self.utterance = playout.start_utterance()
        self.tool_calls: list[ToolCall] = []
        self.end: AnswerEnd | None = None
        self.filler_spoken = False
        self.error: str | None = None
        self.attempts: list[Attempt] = []
        self.tool_runs: list[dict[str, object]] = []
        # Sentences already in the conversation context (tool rounds commit their text).
        self.committed_sentences = 0
        self._first_output = asyncio.Event()

    async def run(self) -> None:
        """Answer, running tools between model rounds until the model answers without one (or
        asks to end or transfer the call, which the call loop does once this is heard)."""
        filler = (
            asyncio.create_task(self._filler_if_slow(), name="answer-filler")
            if self._filler is not None
            else None
        )
        budget = self._max_tool_calls
        try:
            while True:
                start = len(self.utterance.sentences)
                calls = await self._round()
                tools = [call for call in calls if call.name not in CALL_ENDING]
                if not tools or self._runner is None:
                    return
                # The model needs its tool-use turn and the results before it goes on.
                text = " ".join(s.text for s in self.utterance.sentences[start:])
                self._conversation.add_agent(text, tools)
                self.committed_sentences = len(self.utterance.sentences)
                results = []
                for call in tools:
                    if budget <= 0:
                        results.append(_over_budget(call, self._max_tool_calls))
                        continue
                    budget -= 1
                    results.append(await self._run_tool(call))
                self._conversation.add_tool_results(results)
        except Exception as exc:  # an engine failed: the turn ends, the call goes on
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("answer.failed", error=self.error)
        finally:
            if filler is not None and not filler.done():
                filler.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await filler

    async def _round(self) -> list[ToolCall]:
        """One model answer, spoken sentence by sentence as it streams; its tool calls."""
        sentences: asyncio.Queue[Sentence | None] = asyncio.Queue()
        before = len(self.tool_calls)
        producer = asyncio.create_task(self._produce(sentences), name="answer-model")
        try:
            while (sentence := await sentences.get()) is not None:
                await self._speak(sentence)
            await producer
        finally:
            if not producer.done():
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await producer
        return self.tool_calls[before:]

    async def _run_tool(self, call: ToolCall) -> ToolResult:
        assert self._runner is not None
        policy = self._runner.policy(call.name)
        if policy.speak_during_execution and self._speak_phrase is not None:
            await self._speak_phrase(policy.speak_during_execution)
        started = time.monotonic()
        task = asyncio.create_task(
            asyncio.wait_for(self._runner.run(call), policy.timeout_s), name=f"tool-{call.name}"
        )
        try:
            # A tool that must finish is shielded: a barge-in cancels the answer, not the tool.
            result = await (asyncio.shield(task) if policy.finish_on_barge_in else task)
        except TimeoutError:
            result = ToolResult(
                call.id, {"error": f"{call.name} timed out after {policy.timeout_s:g} s"}, True
            )
        self.tool_runs.append(
            {
                "name": call.name,
                "arguments": call.arguments,
                "is_error": result.is_error,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            }
        )
        return result

    async def _produce(self, sentences: asyncio.Queue[Sentence | None]) -> None:
        if self.timings.llm_request is None:
            self.timings.llm_request = time.monotonic()
        try:
            events = self._conversation.respond(
                self._models,
                deadline_s=self._max_response_s,
                attempts=self.attempts,
                engine=self._engine,
            )
            async for event in events:
                if isinstance(event, FirstToken):
                    self.timings.llm_first_token = event.at
                    self._first_output.set()
                elif isinstance(event, Sentence):
                    if self.timings.first_sentence is None:
                        self.timings.first_sentence = event.at
                    sentences.put_nowait(event)
                elif isinstance(event, ToolCall):
                    self.tool_calls.append(event)
                else:
                    self.end = _combined(self.end, event)
        finally:
            self._first_output.set()
            sentences.put_nowait(None)

    async def _speak(self, sentence: Sentence) -> None:
        index = self._playout.add_sentence(self.utterance, sentence.text)
        requested = time.monotonic()
        if self.timings.tts_request is None:
            self.timings.tts_request = requested
        first = True
        async for chunk in self._tts.stream(sentence.text):
            if first:
                first = False
                metrics.TTS_FIRST_AUDIO.observe(time.monotonic() - requested)
                if self.timings.tts_first_audio is None:
                    self.timings.tts_first_audio = time.monotonic()
            await self._playout.send(self.utterance, index, chunk)
            if self.timings.first_audio_sent is None:
                self.timings.first_audio_sent = time.monotonic()
        self._playout.finish_sentence(self.utterance, index)

    async def _filler_if_slow(self) -> None:
        try:
            await asyncio.wait_for(self._first_output.wait(), self._max_response_s)
            return
        except TimeoutError:
            pass
        assert self._filler is not None
        audio = await self._filler()
        if self.timings.first_audio_sent is not None:
            return
        filler = self._playout.start_utterance()
        index = self._playout.add_sentence(filler, "")
        await self._playout.send(filler, index, audio)
        self._playout.finish_sentence(filler, index)
        self.filler_spoken = True
        metrics.FILLERS.inc()

    @property
    def model(self) -> str | None:
        """The model whose answer was used."""
        won = [attempt.model for attempt in self.attempts if attempt.outcome == "won"]
        return won[0] if won else None

    @property
    def spoken_text(self) -> str:
        return self.utterance.spoken_text

    def heard_text(self) -> str:
        return self.utterance.heard_text()


def _combined(previous: AnswerEnd | None, latest: AnswerEnd) -> AnswerEnd:
    """Usage over every model round of the answer; the stop reason of the last."""
    if previous is None:
        return latest
    usage = Usage(
        previous.usage.input_tokens + latest.usage.input_tokens,
        previous.usage.output_tokens + latest.usage.output_tokens,
    )
    return AnswerEnd(latest.stop_reason, usage, latest.latency_ms)


def _over_budget(call: ToolCall, limit: int) -> ToolResult:
    message = f"not run: at most {limit} tool calls per caller turn (automation.max_tool_calls)"
    return ToolResult(call.id, {"error": message}, is_error=True)
