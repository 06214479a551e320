"""Sends the agent's audio to the carrier and learns, from echoed marks, what the caller heard."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aybiza.audio.codec import SAMPLE_RATE_HZ
from aybiza.pipeline.transport import MediaConnection


@dataclass(slots=True)
class _Sentence:
    text: str
    sent_bytes: int = 0
    heard_bytes: int = 0
    complete: bool = False


@dataclass(slots=True)
class Utterance:
    """Everything the agent says in one answer (or the greeting), sentence by sentence."""

    number: int
    sentences: list[_Sentence] = field(default_factory=list)

    def heard_text(self, start: int = 0) -> str:
        """Whole sentences whose audio all played, plus the words of a partly played sentence in
        proportion to the audio heard (the best estimate without word timings), from sentence
        ``start`` on."""
        parts: list[str] = []
        for sentence in self.sentences[start:]:
            if sentence.sent_bytes == 0:
                break
            if sentence.complete and sentence.heard_bytes >= sentence.sent_bytes:
                parts.append(sentence.text)
                continue
            words = sentence.text.split()
            share = sentence.heard_bytes / max(sentence.sent_bytes, 1)
            if sentence.complete and share > 0:
                count = int(len(words) * share)
                if count:
                    parts.append(" ".join(words[:count]) + "...")
            break
        return " ".join(parts)

    @property
    def spoken_text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass(frozen=True, slots=True)
class _Chunk:
    utterance: Utterance
    index: int
    audio: bytes


class Playout:
    """Audio goes out as it is synthesized, each chunk followed by a mark named
    ``u<utterance>s<sentence>c<chunk>``. A mark echoed before a ``clear`` proves its audio was
    heard; marks Twilio echoes after a ``clear`` are ignored (their audio was dropped).

    ``pause`` (caller speech during the agent's) clears the carrier's queue at once but keeps
    what the caller did not hear: exactly what never left when the carrier says so (SIP, where
    the server sends the RTP itself), otherwise from the play position estimated from the last
    echoed mark (Twilio); audio synthesized while paused is held too. ``resume`` sends it all
    again from there (a backchannel or a cough: the answer goes on without repeating or
    skipping a word); ``clear`` drops it (a real interruption)."""

    def __init__(
        self, transport: MediaConnection, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._pending: dict[str, _Chunk] = {}  # mark name -> the chunk it confirms, in order
        self._playing_since = 0.0  # when the oldest pending chunk began to play
        self._held: list[_Chunk] | None = None  # paused: the audio not heard yet
        self._count = 0
        self._chunks = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self.bytes_sent = 0

    @property
    def speaking(self) -> bool:
        """True while audio sent to the carrier has not finished playing, or is paused."""
        return bool(self._pending) or self._held is not None

    @property
    def paused(self) -> bool:
        return self._held is not None

    def start_utterance(self) -> Utterance:
        self._count += 1
        return Utterance(self._count)

    def add_sentence(self, utterance: Utterance, text: str) -> int:
        utterance.sentences.append(_Sentence(text))
        return len(utterance.sentences) - 1

    def finish_sentence(self, utterance: Utterance, index: int) -> None:
        utterance.sentences[index].complete = True

    async def send(self, utterance: Utterance, index: int, audio: bytes) -> None:
        """Send one chunk of a sentence's audio, then its mark."""
        if not audio:
            return
        utterance.sentences[index].sent_bytes += len(audio)
        self._drained.clear()
        chunk = _Chunk(utterance, index, audio)
        if self._held is not None:
            self._held.append(chunk)
        else:
            await self._emit(chunk)

    async def _emit(self, chunk: _Chunk) -> None:
        self._chunks += 1
        name = f"u{chunk.utterance.number}s{chunk.index}c{self._chunks}"
        if not self._pending:
            self._playing_since = self._clock()
        self._pending[name] = chunk
        self.bytes_sent += len(chunk.audio)
        await self._transport.send_media(chunk.audio)
        await self._transport.send_mark(name)

    def on_mark(self, name: str) -> bool:
        """Record an echoed mark; False when it is not one we are waiting for."""
        chunk = self._pending.pop(name, None)
        if chunk is None:
            return False
        chunk.utterance.sentences[chunk.index].heard_bytes += len(chunk.audio)
        # The carrier plays its queue back to back: the next chunk started as this one ended.
        self._playing_since = self._clock()
        if not self._pending and self._held is None:
            self._drained.set()
        return True

    async def pause(self) -> bool:
        """Stop the caller hearing the agent now (``clear``), keeping the audio not yet heard;
        False (nothing sent) when nothing is playing or playout is already paused."""
        if self._held is not None or not self._pending:
            return False
        chunks = list(self._pending.items())
        self._pending.clear()
        # Without word from the carrier: the oldest chunk began when the mark before it came.
        estimate = int((self._clock() - self._playing_since) * SAMPLE_RATE_HZ)
        self._held = []  # audio synthesized while the carrier clears is held behind the rest
        unsent = await self._transport.send_clear()
        if unsent is None:
            head_name, head = chunks[0]
            sent = dict.fromkeys((name for name, _ in chunks), 0)
            sent[head_name] = max(0, min(estimate, len(head.audio)))
        else:  # a mark the carrier did not drop had fired: all of its audio left
            sent = {
                name: len(chunk.audio) - max(0, min(unsent.get(name, 0), len(chunk.audio)))
                for name, chunk in chunks
            }
        rests: list[_Chunk] = []
        for name, chunk in chunks:
            played = sent[name]
            chunk.utterance.sentences[chunk.index].heard_bytes += played
            if played < len(chunk.audio):
                rests.append(_Chunk(chunk.utterance, chunk.index, chunk.audio[played:]))
        if self._held is not None:  # not cleared while the carrier was clearing
            self._held = [*rests, *self._held]
        return True

    async def resume(self) -> None:
        """Play what was held by ``pause`` from where the caller stopped hearing it."""
        held, self._held = self._held, None
        for chunk in held or ():
            await self._emit(chunk)
        if not self._pending:
            self._drained.set()

    async def clear(self) -> None:
        """Drop everything not yet played (barge-in); no second ``clear`` when paused."""
        was_paused = self._held is not None
        self._held = None
        self._pending.clear()
        self._drained.set()
        if not was_paused:
            await self._transport.send_clear()

    async def wait_drained(self) -> None:
        """Wait until everything sent so far has been played to the caller."""
        await self._drained.wait()

    def forget(self, utterance: Utterance) -> None:
        """An utterance is settled: drop any of its audio still held by a pause."""
        if self._held is not None:
            self._held = [chunk for chunk in self._held if chunk.utterance is not utterance]
