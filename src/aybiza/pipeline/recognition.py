"""``Recognition``: the call's recogniser, with a fallback when it cannot be reached.

The agent's recogniser opens first; when it cannot be reached at the start of the call, or its
stream fails mid-call (a cloud recogniser gives up after its reconnect budget), the next
configured recogniser takes over (the embedded one last), so the caller is still greeted and
heard. ``fallback`` says which engine took over and why; the call record keeps it and the cost
follows the engine that ran.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import structlog

from aybiza.agents.speech import SttOptions
from aybiza.analytics import metrics
from aybiza.pipeline.recognition_feed import RecognitionFeed
from aybiza.providers.base import SttEngine, SttEvent, SttStream

log = structlog.get_logger(__name__)


class RecognitionUnavailable(Exception):
    """No configured recogniser could be reached; the message lists why each failed."""


class Recognition:
    """One call's recognition stream over a list of engines, first choice first."""

    def __init__(self, engines: Sequence[SttEngine], options: SttOptions) -> None:
        self._engines = list(engines)
        self._options = options
        self._index = -1
        self._stream: SttStream | None = None
        self._feed: RecognitionFeed | None = None
        self._sent_before = 0
        self.fallback: str | None = None

    @property
    def engine(self) -> str:
        """The recogniser running now."""
        return self._engines[max(self._index, 0)].name

    @property
    def messages_sent(self) -> int:
        return self._sent_before + (self._feed.messages_sent if self._feed else 0)

    async def open(self) -> None:
        """Open the first recogniser that can be reached. Raises ``RecognitionUnavailable``."""
        await self._open_next(None)

    async def push(self, frame: bytes, *, hold_ms: int) -> None:
        if self._feed is not None:
            await self._feed.push(frame, hold_ms=hold_ms)

    async def finalize(self, *, early: bool = False) -> None:
        """Have the recogniser finalise now. ``early`` (mid-utterance, after a short quiet) asks
        only a recogniser that keeps the sentence whole across a finalise (``finalizes_early``:
        Deepgram joins the stretches; a grammar decoder would split the sentence and lose it)."""
        if self._stream is None:
            return
        if early and not getattr(self._engines[max(self._index, 0)], "finalizes_early", False):
            return
        await self._stream.finalize()

    async def events(self) -> AsyncIterator[SttEvent]:
        """Recognition events until the stream closes; a failing stream hands over to the next
        recogniser. Raises the last failure when none is left."""
        while self._stream is not None:
            stream = self._stream
            try:
                async for event in stream.events():
                    yield event
                return
            except Exception as exc:
                if self._index + 1 >= len(self._engines):
                    raise
                metrics.ENGINE_ERRORS.labels("stt", self.engine).inc()
                await _close_quietly(stream)
                await self._open_next(exc)

    async def close(self) -> None:
        if self._stream is not None:
            await _close_quietly(self._stream)

    async def _open_next(self, failure: Exception | None) -> None:
        problems: list[str] = []
        first = self._index
        while self._index + 1 < len(self._engines):
            self._index += 1
            engine = self._engines[self._index]
            try:
                stream = await engine.open_stream(self._options)
            except Exception as exc:
                metrics.ENGINE_ERRORS.labels("stt", engine.name).inc()
                problems.append(f"{engine.name}: {type(exc).__name__}: {exc}")
                continue
            if self._feed is not None:
                self._sent_before += self._feed.messages_sent
            self._stream, self._feed = stream, RecognitionFeed(stream)
            if self._index > 0:
                failed = self._engines[max(first, 0)].name
                why = problems[0] if problems else f"{type(failure).__name__}: {failure}"
                self.fallback = f"{failed} -> {engine.name} ({why})"[:500]
                log.warning("call.stt_fallback", fallback=self.fallback)
            return
        self._stream = self._feed = None
        raise RecognitionUnavailable("; ".join(problems) or "no recogniser configured")


async def _close_quietly(stream: SttStream) -> None:
    try:
        await stream.close()
    except Exception:
        log.debug("stt.close_failed", exc_info=True)
