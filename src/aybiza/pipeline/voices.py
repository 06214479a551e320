"""The call's voices: one synthesis session per voice, opened when first needed, with the
embedded voice as the fallback, and fixed phrases (greeting, fillers) from the shared cache."""

from __future__ import annotations

import structlog

from aybiza.agents.speech import VoiceOptions
from aybiza.analytics import metrics
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.plan import CallPlan
from aybiza.providers.base import TtsSession
from aybiza.providers.engines import Engines
from aybiza.providers.errors import EngineError
from aybiza.providers.tts.session import FallbackTtsSession

log = structlog.get_logger(__name__)


class CallVoices:
    def __init__(self, plan: CallPlan, engines: Engines, phrases: PhraseCache) -> None:
        self._plan = plan
        self._engines = engines
        self._phrases = phrases
        # One session per voice, keyed by name and language: an embedded engine may speak two
        # languages under one voice name.
        self._sessions: dict[tuple[str, str], TtsSession] = {}
        self.language = plan.language

    @property
    def voice(self) -> VoiceOptions:
        return self._plan.voice_for(self.language)

    def session(self) -> TtsSession:
        """The synthesis session for the current language's voice."""
        voice = self.voice
        key = (voice.model, voice.language)
        session = self._sessions.get(key)
        if session is None:
            session = self._engines.tts.open_session(voice)
            fallback = self._engines.fallback_tts
            if fallback is not None:
                session = FallbackTtsSession(
                    session, self._engines.tts.name, fallback.open_session(voice)
                )
            self._sessions[key] = session
        return session

    async def phrase(self, text: str) -> bytes:
        """Audio of a fixed phrase in the current voice, cached across calls."""
        voice = self.voice
        try:
            return await self._phrases.get(self._plan.agent_key, self._engines.tts, voice, text)
        except EngineError as exc:
            fallback = self._engines.fallback_tts
            if fallback is None:
                raise
            metrics.ENGINE_ERRORS.labels("tts_fallback_embedded", self._engines.tts.name).inc()
            log.warning("tts.phrase_fallback", error=str(exc))
            return await self._phrases.get(self._plan.agent_key, fallback, voice, text)

    async def speak_once(self, text: str) -> bytes:
        """Audio of a one-off text in the current voice (not cached: a transfer's summary)."""
        voice = self.voice
        try:
            return await self._engines.tts.synthesize(text, voice)
        except EngineError:
            fallback = self._engines.fallback_tts
            if fallback is None:
                raise
            return await fallback.synthesize(text, voice)

    async def clear(self) -> None:
        """Barge-in: drop what the engines still hold. A failure here must not stop the call:
        the next sentence reconnects or falls back."""
        for session in self._sessions.values():
            try:
                await session.clear()
            except Exception:
                log.warning("tts.clear_failed", exc_info=True)

    async def aclose(self) -> None:
        for session in self._sessions.values():
            try:
                await session.aclose()
            except Exception:
                log.warning("tts.close_failed", exc_info=True)
        self._sessions.clear()
