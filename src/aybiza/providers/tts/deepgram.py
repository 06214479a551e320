"""Deepgram Aura text-to-speech: per-call streaming sessions, REST for phrases.

Each call's ``DeepgramTtsSession`` (see ``deepgram_session``) keeps one streaming socket across
the call's turns; greetings and fillers are synthesized over REST (``deepgram_rest``) and cached
by the caller. One ``base_url`` gives both the WebSocket and the REST address.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from urllib.parse import urlencode

from aybiza.agents.speech import VoiceOptions
from aybiza.providers.tts.aura_voices import (
    AURA2_VOICE_BY_LANGUAGE,
    aura2_voice,
    is_aura,
    primary_subtag,
)
from aybiza.providers.tts.deepgram_rest import ENGINE, SpeakRestClient, base_urls
from aybiza.providers.tts.deepgram_session import DeepgramTtsSession, SpeakSettings

__all__ = ["DeepgramTts", "DeepgramTtsSession", "deepgram_voice"]


def deepgram_voice(voice: VoiceOptions) -> str:
    """The Deepgram model for ``voice``: an Aura-2 name as is, an Aura-1 name as its Aura-2
    voice (``aura-asteria-en`` -> ``aura-2-asteria-en``); anything else (an espeak voice such
    as ``en-us``) as Aura-2's voice of the voice's language, English where Aura-2 has none."""
    if is_aura(voice.model):
        return aura2_voice(voice.model)
    language = primary_subtag(voice.language)
    return AURA2_VOICE_BY_LANGUAGE.get(language, AURA2_VOICE_BY_LANGUAGE["en"])


class DeepgramTts:
    """Deepgram Aura synthesis; implements ``TtsEngine``. Shared by every call in a process.

    - ``base_url``: ``https://api.deepgram.com`` or a self-hosted Deepgram or fake, given as
      ``https``, ``http``, ``wss`` or ``ws``; the WebSocket and REST addresses derive from it.
    - ``connect_timeout_s``: WebSocket handshake deadline; past it the sentence goes over REST.
    - ``response_timeout_s``: longest wait for the next audio of a sentence on the socket;
      past it the rest of the sentence goes over REST.
    - ``request_timeout_s``: REST request timeout.
    - ``flush_limit`` per ``flush_window_s``: Deepgram's flush budget per socket (20 per 60 s).

    ``VoiceOptions.speed`` is not applied: Deepgram's ``speed`` is not part of the requests
    this engine is specified to send.
    """

    name = ENGINE

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.deepgram.com",
        connect_timeout_s: float = 5.0,
        response_timeout_s: float = 5.0,
        request_timeout_s: float = 15.0,
        flush_limit: int = 20,
        flush_window_s: float = 60.0,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must be a Deepgram API key, got an empty string")
        self._websocket_base, http_base = base_urls(base_url)
        self._rest = SpeakRestClient(api_key, http_base, timeout_s=request_timeout_s)
        self._settings = SpeakSettings(
            api_key=api_key,
            connect_timeout_s=connect_timeout_s,
            response_timeout_s=response_timeout_s,
            close_timeout_s=2.0,
            flush_limit=flush_limit,
            flush_window_s=flush_window_s,
        )

    def speak_url(self, model: str) -> str:
        """The ``/v1/speak`` WebSocket URL for ``model``."""
        query = urlencode({"model": model, "encoding": "mulaw", "sample_rate": "8000"})
        return f"{self._websocket_base}/v1/speak?{query}"

    def open_session(self, voice: VoiceOptions) -> DeepgramTtsSession:
        """A session for one call; its socket opens when the first sentence is spoken."""
        model = deepgram_voice(voice)
        return DeepgramTtsSession(self.speak_url(model), model, self._rest, self._settings)

    async def stream(self, text: str, voice: VoiceOptions) -> AsyncGenerator[bytes, None]:
        """One sentence over REST, chunks as they arrive (no call, so no socket to reuse)."""
        if text.strip():
            async with aclosing(self._rest.stream(text, deepgram_voice(voice))) as chunks:
                async for chunk in chunks:
                    yield chunk

    async def synthesize(self, text: str, voice: VoiceOptions) -> bytes:
        """A whole phrase over REST (greetings and fillers, cached by the caller)."""
        if not text.strip():
            return b""
        return await self._rest.synthesize(text, deepgram_voice(voice))

    def prepare(self) -> None:
        """Create the REST client now (``SpeakRestClient.prepare``)."""
        self._rest.prepare()

    async def aclose(self) -> None:
        """Close the shared HTTP client. Idempotent."""
        await self._rest.aclose()
