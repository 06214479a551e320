"""Synthesized fixed phrases (greetings, fillers), cached so later calls speak at once."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from aybiza.agents.speech import VoiceOptions
from aybiza.providers.base import TtsEngine

PhraseKey = tuple[str, str, str, str]


class PhraseCache:
    """Audio per (agent version, engine, voice, text). Concurrent first requests for one phrase
    share a single synthesis. Least recently used phrases are dropped past ``max_bytes``."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._audio: OrderedDict[PhraseKey, bytes] = OrderedDict()
        self._pending: dict[PhraseKey, asyncio.Future[bytes]] = {}
        self._max_bytes = max_bytes
        self._size = 0

    def peek(self, key: PhraseKey) -> bytes | None:
        audio = self._audio.get(key)
        if audio is not None:
            self._audio.move_to_end(key)
        return audio

    async def get(
        self, agent_version: str, engine: TtsEngine, voice: VoiceOptions, text: str
    ) -> bytes:
        key: PhraseKey = (agent_version, engine.name, voice.model, text)
        cached = self.peek(key)
        if cached is not None:
            return cached
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            audio = await engine.synthesize(text, voice)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(audio)
        self._store(key, audio)
        return audio

    def _store(self, key: PhraseKey, audio: bytes) -> None:
        self._audio[key] = audio
        self._size += len(audio)
        while self._size > self._max_bytes and len(self._audio) > 1:
            _, dropped = self._audio.popitem(last=False)
            self._size -= len(dropped)
