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
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.timings import TurnTimings
from aybiza.providers.base import AnswerEnd, ToolCall, TtsSession

log = structlog.get_logger(__name__)

FillerSource = Callable[[], Awaitable[bytes]]


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
    ) -> None:
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
        self._first_output = asyncio.Event()

    async def run(self) -> None:
        sentences: asyncio.Queue[Sentence | None] = asyncio.Queue()
        producer = asyncio.create_task(self._produce(sentences), name="answer-model")
        filler = (
            asyncio.create_task(self._filler_if_slow(), name="answer-filler")
            if self._filler is not None
            else None
        )
        try:
            while (sentence := await sentences.get()) is not None:
                await self._speak(sentence)
            await producer
        except Exception as exc:  # an engine failed: the turn ends, the call goes on
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("answer.failed", error=self.error)
        finally:
            for task in (producer, filler):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _produce(self, sentences: asyncio.Queue[Sentence | None]) -> None:
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
                    self.end = event
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
