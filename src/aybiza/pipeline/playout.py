"""Sends the agent's audio to the carrier and learns, from echoed marks, what the caller heard."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

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


_MARK = re.compile(r"^u(\d+)s(\d+)c(\d+)$")


class Playout:
    """Audio goes out as it is synthesized, each chunk followed by a mark named
    ``u<utterance>s<sentence>c<chunk>``. A mark echoed before a ``clear`` proves its audio was
    heard; marks Twilio echoes after a ``clear`` are ignored (their audio was dropped)."""

    def __init__(self, transport: MediaConnection) -> None:
        self._transport = transport
        self._utterances: dict[int, Utterance] = {}
        self._pending: dict[str, int] = {}  # mark name -> bytes it confirms
        self._count = 0
        self._chunks = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self.bytes_sent = 0

    @property
    def speaking(self) -> bool:
        """True while audio sent to the carrier has not finished playing."""
        return bool(self._pending)

    def start_utterance(self) -> Utterance:
        self._count += 1
        utterance = Utterance(self._count)
        self._utterances[utterance.number] = utterance
        return utterance

    def add_sentence(self, utterance: Utterance, text: str) -> int:
        utterance.sentences.append(_Sentence(text))
        return len(utterance.sentences) - 1

    def finish_sentence(self, utterance: Utterance, index: int) -> None:
        utterance.sentences[index].complete = True

    async def send(self, utterance: Utterance, index: int, audio: bytes) -> None:
        """Send one chunk of a sentence's audio, then its mark."""
        if not audio:
            return
        self._chunks += 1
        name = f"u{utterance.number}s{index}c{self._chunks}"
        utterance.sentences[index].sent_bytes += len(audio)
        self._pending[name] = len(audio)
        self._drained.clear()
        self.bytes_sent += len(audio)
        await self._transport.send_media(audio)
        await self._transport.send_mark(name)

    def on_mark(self, name: str) -> bool:
        """Record an echoed mark; False when it is not one we are waiting for."""
        size = self._pending.pop(name, None)
        match = _MARK.match(name)
        if size is None or match is None:
            return False
        utterance = self._utterances.get(int(match.group(1)))
        if utterance is not None:
            utterance.sentences[int(match.group(2))].heard_bytes += size
        if not self._pending:
            self._drained.set()
        return True

    async def clear(self) -> None:
        """Drop everything not yet played (barge-in)."""
        self._pending.clear()
        self._drained.set()
        await self._transport.send_clear()

    async def wait_drained(self) -> None:
        """Wait until everything sent so far has been played to the caller."""
        await self._drained.wait()

    def forget(self, utterance: Utterance) -> None:
        self._utterances.pop(utterance.number, None)
