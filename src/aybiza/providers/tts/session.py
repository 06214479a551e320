"""The fallback chain for a call's voice: a cloud voice, backed by the embedded one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog

from aybiza.analytics import metrics
from aybiza.providers.base import TtsSession
from aybiza.providers.errors import EngineError

log = structlog.get_logger(__name__)


class FallbackTtsSession:
    """The call's voice with a safety net: when the primary engine fails on a sentence before
    any of its audio went out, the sentence is spoken by the fallback (embedded) voice instead,
    and the rest of the call stays on the fallback. A failure after audio went out ends that
    sentence short (the caller already heard part of it)."""

    def __init__(self, primary: TtsSession, primary_name: str, fallback: TtsSession) -> None:
        self._primary: TtsSession | None = primary
        self._primary_name = primary_name
        self._fallback = fallback
        self.failures: list[str] = []

    async def stream(self, text: str) -> AsyncIterator[bytes]:
        if self._primary is not None:
            produced = False
            try:
                async for chunk in self._primary.stream(text):
                    produced = True
                    yield chunk
                return
            except EngineError as exc:
                metrics.ENGINE_ERRORS.labels("tts_fallback_embedded", self._primary_name).inc()
                self.failures.append(str(exc))
                log.warning("tts.fallback", engine=self._primary_name, error=str(exc))
                primary, self._primary = self._primary, None
                await primary.aclose()
                if produced:
                    return
        async for chunk in self._fallback.stream(text):
            yield chunk

    async def clear(self) -> None:
        if self._primary is not None:
            await self._primary.clear()
        await self._fallback.clear()

    async def aclose(self) -> None:
        if self._primary is not None:
            await self._primary.aclose()
        await self._fallback.aclose()
