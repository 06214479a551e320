"""One agent answer: model text streamed into sentences, each synthesized and played at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from aybiza.analytics import metrics, tracing
from aybiza.conversation.engine import Conversation, FirstToken, Sentence
from aybiza.conversation.failover import Attempt
from aybiza.conversation.tools import CALL_ENDING, ToolRunner
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.timings import TurnTimings
from aybiza.pipeline.tool_batch import PhraseSpeaker, ToolBatch
from aybiza.providers.base import AnswerEnd, ToolCall, TtsSession, Usage
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

FillerSource = Callable[[], Awaitable[bytes]]


class AgentAnswer:
    """Runs one answer. The model streams into a queue of sentences while the previous sentence
    is synthesized and played, so the model never waits on speech and speech never waits on the
    rest of the answer. Cancelling ``run()`` (barge-in) stops the model and synthesis at once;
    the attributes keep what was produced so far for the turn record.

    Tools run between model rounds (``ToolBatch``), at most ``max_tool_calls`` per answer; once
    they are used up, the next round asks the model to answer without tools, and a tool it asks
    for anyway is not run and ends the answer. Rounds after tool results go to
    ``models_after_tools`` (the router's ``complex`` first) when given.

    With ``release`` (a speculative answer, started before the caller's turn ended) the answer
    is held until the event is set: the model streams and the first sentence is synthesized,
    but nothing is played, no tool runs, no filler is spoken and ``run()`` does not return
    before it; cancelling it then leaves nothing the caller heard.
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
        models_after_tools: tuple[str, ...] = (),
        release: asyncio.Event | None = None,
    ) -> None:
        self._release = release
        self._runner = runner
        self._max_tool_calls = max_tool_calls
        self._speak_phrase = speak_phrase
        self._models_after_tools = models_after_tools
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

    @property
    def held(self) -> bool:
        """A speculative answer not released yet: nothing of it has been played."""
        return self._release is not None and not self._release.is_set()

    async def _released(self) -> None:
        if self._release is not None:
            await self._release.wait()

    async def run(self) -> None:
        """Answer, running tools between model rounds until the model answers without one (or
        asks to end or transfer the call, which the call loop does once this is heard)."""
        await self._answer()
        # A speculative answer that produced nothing to play still waits: it is used (and
        # recorded) only once the turn ends with its text.
        await self._released()

    async def _answer(self) -> None:
        filler = (
            asyncio.create_task(self._filler_if_slow(), name="answer-filler")
            if self._filler is not None
            else None
        )
        budget = self._max_tool_calls
        models = self._models
        tools_allowed = True
        try:
            while True:
                start = len(self.utterance.sentences)
                calls = await self._round(models, tools_allowed=tools_allowed)
                tools = [call for call in calls if call.name not in CALL_ENDING]
                if not tools or self._runner is None:
                    return
                # Tools act on the world: never on a turn the caller has not finished.
                await self._released()
                # The model needs its tool-use turn and the results before it goes on.
                text = " ".join(s.text for s in self.utterance.sentences[start:])
                self._conversation.add_agent(text, tools)
                self.committed_sentences = len(self.utterance.sentences)
                batch = ToolBatch(
                    self._runner,
                    self._conversation,
                    limit=self._max_tool_calls,
                    runs=self.tool_runs,
                    speak_phrase=self._speak_phrase,
                )
                budget -= await batch.run(tools, budget if tools_allowed else 0)
                if not tools_allowed:
                    return  # asked for a tool when told it had none left: not run, answer over
                # The model now acts on tool results: the router sends that to ``complex``.
                models = self._models_after_tools or models
                # At the cap the model answers without tools, so a turn makes at most
                # max_tool_calls + 1 model requests.
                tools_allowed = budget > 0
        except Exception as exc:  # an engine failed: the turn ends, the call goes on
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("answer.failed", error=self.error)
        finally:
            if filler is not None and not filler.done():
                filler.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await filler

    async def _round(self, models: tuple[str, ...], *, tools_allowed: bool) -> list[ToolCall]:
        """One model answer, spoken sentence by sentence as it streams; its tool calls."""
        sentences: asyncio.Queue[Sentence | None] = asyncio.Queue()
        before = len(self.tool_calls)
        producer = asyncio.create_task(
            self._produce(sentences, models, tools_allowed), name="answer-model"
        )
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

    async def _produce(
        self,
        sentences: asyncio.Queue[Sentence | None],
        models: tuple[str, ...],
        tools_allowed: bool,
    ) -> None:
        if self.timings.llm_request is None:
            self.timings.llm_request = time.monotonic()
        engine = {"aybiza.engine": self._engine, "aybiza.models": ",".join(models)}
        try:
            with tracing.stage("llm", **engine) as span:
                events = self._conversation.respond(
                    models,
                    deadline_s=self._max_response_s,
                    attempts=self.attempts,
                    engine=self._engine,
                    tools_allowed=tools_allowed,
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
                if span is not None:
                    span.set_attribute("aybiza.model", self.model or "")
        finally:
            self._first_output.set()
            sentences.put_nowait(None)

    async def _speak(self, sentence: Sentence) -> None:
        index = self._playout.add_sentence(self.utterance, sentence.text)
        if self.held:
            await self._speak_held(sentence, index)
            return
        requested = time.monotonic()
        if self.timings.tts_request is None:
            self.timings.tts_request = requested
        first = True
        with tracing.stage("tts", **{"aybiza.characters": len(sentence.text)}):
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

    async def _speak_held(self, sentence: Sentence, index: int) -> None:
        """A speculative answer's first sentence: synthesized into a queue at once, played
        from it once released (later sentences wait for the release in ``_round``)."""
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        pump = asyncio.create_task(self._synthesize(sentence.text, chunks), name="answer-tts")
        try:
            await self._released()
            while (chunk := await chunks.get()) is not None:
                await self._playout.send(self.utterance, index, chunk)
                if self.timings.first_audio_sent is None:
                    self.timings.first_audio_sent = time.monotonic()
            await pump
        finally:
            if not pump.done():
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
        self._playout.finish_sentence(self.utterance, index)

    async def _synthesize(self, text: str, chunks: asyncio.Queue[bytes | None]) -> None:
        requested = time.monotonic()
        if self.timings.tts_request is None:
            self.timings.tts_request = requested
        first = True
        try:
            async for chunk in self._tts.stream(text):
                if first:
                    first = False
                    metrics.TTS_FIRST_AUDIO.observe(time.monotonic() - requested)
                    if self.timings.tts_first_audio is None:
                        self.timings.tts_first_audio = time.monotonic()
                chunks.put_nowait(chunk)
        finally:
            chunks.put_nowait(None)

    async def _filler_if_slow(self) -> None:
        await self._released()
        try:
            await within(self._first_output.wait(), self._max_response_s)
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
    def asked_for_tools(self) -> bool:
        """Whether the model asked for a tool in this answer: its next answer acts on a tool's
        result, which the router sends to the ``complex`` model."""
        return bool(self.tool_calls)

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
