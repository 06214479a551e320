"""The fake Deepgram's synthesis: deterministic audio and the ``/v1/speak`` socket protocol.

Audio is ``SPEECH_CHAR_S`` of a tone per character of text, its pitch set by the character, so
a test knows the exact bytes each sentence must produce (``speech_audio``). Socket messages
follow PROTOCOLS.md 4.2: Metadata first, audio frames then Flushed per Flush, Cleared per Clear,
a Warning past 20 Flushes a minute (that Flush is then ignored, as by Deepgram).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from aiohttp import WSMsgType, web
from tests.fakes.deepgram_listen import MODEL_UUID

from aybiza.audio.codec import pcm16_to_ulaw

SPEECH_CHAR_S = 0.05  # synthesized audio per character of text
TTS_CHUNK_S = 0.1  # synthesized audio per binary frame on the speak socket
FLUSH_LIMIT, FLUSH_WINDOW_S = 20, 60.0
SPEAK_ENCODINGS = ("mulaw", "linear16")  # the encodings the fake synthesizes


@functools.lru_cache(maxsize=512)
def _character_tone(character: str, sample_rate: int) -> bytes:
    """``SPEECH_CHAR_S`` of a tone whose pitch depends on the character, as 16-bit PCM."""
    frequency = 300 + (ord(character) % 40) * 15
    t = np.arange(round(sample_rate * SPEECH_CHAR_S)) / sample_rate
    return (np.sin(2 * np.pi * frequency * t) * 8000).astype("<i2").tobytes()


def speech_audio(text: str, *, encoding: str = "mulaw", sample_rate: int = 8000) -> bytes:
    """The fake's synthesis of ``text`` (headerless): ``SPEECH_CHAR_S`` per character."""
    pcm = b"".join(_character_tone(c, sample_rate) for c in text)
    if encoding == "linear16":
        return pcm
    return pcm16_to_ulaw(np.frombuffer(pcm, dtype="<i2"))


def wav_header(size: int, encoding: str, sample_rate: int) -> bytes:
    """A 44-byte WAV header for ``size`` bytes of mono audio (``container=wav``)."""
    width, tag = (2, 1) if encoding == "linear16" else (1, 7)  # 7: WAVE_FORMAT_MULAW
    fmt = b"".join(
        value.to_bytes(size_bytes, "little")
        for value, size_bytes in (
            (tag, 2),
            (1, 2),
            (sample_rate, 4),
            (sample_rate * width, 4),
            (width, 2),
            (width * 8, 2),
        )
    )
    riff = (36 + size).to_bytes(4, "little")
    return (
        b"RIFF"
        + riff
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + fmt
        + b"data"
        + size.to_bytes(4, "little")
    )


@dataclass(slots=True)
class SpeakConnection:
    """What one ``/v1/speak`` socket received and sent, and how the fake closed it."""

    query: list[tuple[str, str]]
    control: list[dict[str, Any]] = field(default_factory=list)  # JSON text frames received
    sent: list[dict[str, Any]] = field(default_factory=list)  # JSON messages sent
    audio: bytearray = field(default_factory=bytearray)  # binary frames sent
    close_code: int | None = None


@dataclass(frozen=True, slots=True)
class RestSpeakRequest:
    """One accepted REST ``POST /v1/speak``."""

    query: list[tuple[str, str]]
    text: str


class SpeakFaults(Protocol):
    """The fake's settings a speak socket reads as it runs (tests change them live)."""

    @property
    def latency_ms(self) -> int: ...

    @property
    def tts_ws_fail(self) -> str | None: ...


@dataclass(slots=True)
class _SpeakJob:
    epoch: int
    audio: bytes
    sequence_id: int


class SpeakSocketSession:
    """Serves one accepted ``/v1/speak`` socket until it closes."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        record: SpeakConnection,
        faults: SpeakFaults,
        *,
        model: str,
        encoding: str,
        sample_rate: int,
    ) -> None:
        self._ws = ws
        self._record = record
        self._faults = faults
        self._model = model
        self._encoding = encoding
        self._sample_rate = sample_rate
        width = 2 if encoding == "linear16" else 1
        self._chunk_bytes = round(sample_rate * TTS_CHUNK_S) * width
        self._epoch = 0  # a Clear starts a new epoch: audio of older Flushes is dropped
        self._jobs: asyncio.Queue[_SpeakJob | dict[str, Any]] = asyncio.Queue()

    async def run(self) -> None:
        await self._send_json(
            {
                "type": "Metadata",
                "request_id": str(uuid.uuid4()),
                "model_name": self._model,
                "model_version": "2025-01-01.0",
                "model_uuid": MODEL_UUID,
            }
        )
        sender = asyncio.create_task(self._send_owed())
        try:
            await self._receive()
        finally:
            sender.cancel()

    async def _receive(self) -> None:
        text, flushes, recent = "", 0, deque[float]()
        async for message in self._ws:
            if message.type is not WSMsgType.TEXT:
                continue
            control = json.loads(message.data)
            self._record.control.append(control)
            kind = control.get("type")
            if kind == "Speak":
                text += str(control.get("text", ""))
            elif kind == "Flush":
                now = time.monotonic()
                while recent and recent[0] <= now - FLUSH_WINDOW_S:
                    recent.popleft()
                if len(recent) >= FLUSH_LIMIT:
                    description = f"Exceeded {FLUSH_LIMIT} Flush messages per minute."
                    self._jobs.put_nowait(
                        {"type": "Warning", "description": description, "code": "FLUSH_LIMIT"}
                    )
                    continue
                recent.append(now)
                audio = speech_audio(text, encoding=self._encoding, sample_rate=self._sample_rate)
                self._jobs.put_nowait(_SpeakJob(self._epoch, audio, flushes))
                text, flushes = "", flushes + 1
            elif kind == "Clear":
                self._epoch += 1
                text = ""
                self._jobs.put_nowait({"type": "Cleared", "sequence_id": max(0, flushes - 1)})
            elif kind == "Close":
                await self._close(1000, "")
                return

    async def _send_owed(self) -> None:
        """Sends in order what the socket owes: audio then Flushed per Flush; a Clear stops the
        audio of every earlier Flush before its Cleared goes out."""
        try:
            while True:
                job = await self._jobs.get()
                if isinstance(job, dict):
                    await self._send_json(job)
                elif job.epoch == self._epoch and await self._send_audio(job):
                    await self._send_json({"type": "Flushed", "sequence_id": job.sequence_id})
        except ConnectionError:
            return  # the client went away

    async def _send_audio(self, job: _SpeakJob) -> bool:
        """Sends ``job``'s audio; False when a Clear or a close stopped it."""
        if self._faults.latency_ms:
            await asyncio.sleep(self._faults.latency_ms / 1000)
        for offset in range(0, len(job.audio), self._chunk_bytes):
            if job.epoch != self._epoch or self._ws.closed:
                return False
            chunk = job.audio[offset : offset + self._chunk_bytes]
            await self._ws.send_bytes(chunk)
            self._record.audio += chunk
            if self._faults.tts_ws_fail == "drop":
                await self._close(1011, "NET-0000: speak socket dropped (fault)")
                return False
            await asyncio.sleep(0)  # lets a Clear arriving now stop the rest
        return True

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self._ws.send_str(json.dumps(message))
        self._record.sent.append(message)

    async def _close(self, code: int, reason: str) -> None:
        self._record.close_code = code
        await self._ws.close(code=code, message=reason.encode())
