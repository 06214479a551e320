"""The fake Deepgram's live listen: query validation and scripted recognition.

No sockets here (``deepgram.py`` serves them): ``ScriptedRecognizer`` turns received audio into
the messages of PROTOCOLS.md 3.3. An energy detector decides where speech starts and ends; each
utterance is "recognised" as the next scripted transcript. Times are audio time (bytes
received), not wall-clock time, so a test may send audio faster than real time.
"""

from __future__ import annotations

import hashlib
import string
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from aybiza.audio.codec import ulaw_to_array

MODEL_UUID = "1dbdfb4d-85b2-4659-9c63-9c7ec2a4ac2b"
DEFAULT_SPEECH_THRESHOLD = 500  # mean |sample| of a 20 ms frame above which it is speech
FRAME_S = 0.02
INTERIM_INTERVAL_S = 0.3  # audio time between interim results while speech lasts
EMPTY_FINAL_AFTER_S = 3.0  # Deepgram also finalizes stretches of silence, with no words
_ENCODINGS = {"mulaw": 1, "linear16": 2}  # the encodings the fake decodes: bytes per sample
_PUNCTUATION = string.punctuation + "¿¡"
# The language codes Deepgram serves with Nova-3 (its changelog, 2025-02 to 2026-08); any other
# is refused at the handshake. Spain's ``es-ES`` is not one: Nova-3 Spanish is es / es-419.
NOVA3_LANGUAGES = frozenset(
    {
        *("en", "en-US", "en-AU", "en-GB", "en-IN", "en-NZ", "es", "es-419", "fr", "fr-CA"),
        *("pt", "pt-BR", "pt-PT", "de", "de-CH", "nl", "nl-BE", "sv", "sv-SE", "da", "da-DK"),
        *("it", "tr", "no", "id", "bg", "cs", "fi", "hi", "hu", "ja", "ko", "ko-KR", "pl", "ru"),
        *("uk", "vi", "ca", "et", "el", "lv", "lt", "ms", "ro", "sk", "be", "bn", "bs", "hr"),
        *("kn", "mk", "mr", "sr", "sl", "ta", "tl", "te", "zh", "zh-CN", "zh-Hans", "zh-TW"),
        *("zh-Hant", "zh-HK", "th", "th-TH", "pa", "pa-IN", "ne", "multi"),
    }
)
NO_SUCH_COMBINATION = "No such model/language/tier combination found."
# ``redact`` values of live transcription (deepgram-sdk's ``ListenV1Redact`` and Deepgram's
# redaction groups); the fake records them, the scripted transcript is what the test wrote.
REDACT_VALUES = frozenset(
    {"true", "false", "pci", "pii", "phi", "numbers", "aggressive_numbers", "ssn"}
)


@dataclass(frozen=True, slots=True)
class Utterance:
    """One scripted utterance; its languages are reported when the stream asked for ``multi``:
    ``language`` for every word, or ``word_languages`` word by word for a caller who switches
    within the utterance (code-switching)."""

    text: str
    language: str | None = None
    word_languages: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        words = len(self.text.split())
        if self.word_languages is not None and len(self.word_languages) != words:
            raise ValueError(
                f"word_languages has {len(self.word_languages)} tags for {words} words"
            )

    def language_of(self, index: int) -> str:
        """The language of word ``index`` (Deepgram's default, ``en``, when none is given)."""
        if self.word_languages is not None:
            return self.word_languages[index]
        return self.language or "en"


class Script:
    """The transcripts, in order, shared by every listen connection of one fake.

    ``finalized`` counts utterances whose final result was actually sent: a new connection
    starts there, so after a dropped socket (which may swallow a final not yet sent) the
    reconnected stream hears the unfinished utterance again. Wraps around when used up.
    """

    def __init__(self, utterances: Sequence[str | Utterance]) -> None:
        self.utterances = [u if isinstance(u, Utterance) else Utterance(u) for u in utterances]
        self.finalized = 0

    def at(self, index: int) -> Utterance:
        if not self.utterances:
            return Utterance("")
        return self.utterances[index % len(self.utterances)]


@dataclass(slots=True)
class ListenConnection:
    """What one ``/v1/listen`` connection received and sent, and how the fake closed it."""

    query: list[tuple[str, str]]
    authorization: str
    audio: bytearray = field(default_factory=bytearray)
    audio_messages: int = 0  # binary frames received
    control: list[dict[str, Any]] = field(default_factory=list)  # JSON text frames received
    sent: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None


def parse_flag(query: dict[str, str], name: str, default: bool) -> bool:
    """A ``true``/``false`` query parameter; ``ValueError`` otherwise."""
    value = query.get(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value == "true"


def parse_integer(query: dict[str, str], name: str, default: int | None) -> int | None:
    """A non-negative integer query parameter (``8000`` or ``8000.0``); ``ValueError``
    otherwise."""
    value = query.get(name)
    if value is None:
        return default
    try:
        number = int(float(value))
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class ListenParams:
    """The ``/v1/listen`` query, validated as Deepgram does for the parameters AYBIZA uses."""

    model: str
    encoding: str
    sample_rate: int
    interim_results: bool
    endpointing_ms: int | None  # None: endpointing=false
    utterance_end_ms: int | None
    vad_events: bool
    punctuate: bool
    language: str
    keyterms: tuple[str, ...]
    redact: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, pairs: Sequence[tuple[str, str]]) -> ListenParams:
        """Raises ``ValueError`` with Deepgram-style text for a request it would refuse."""
        query = dict(pairs)
        model = query.get("model", "base")
        encoding = query.get("encoding")
        if encoding not in _ENCODINGS:
            raise ValueError(f"the fake decodes encoding={sorted(_ENCODINGS)} only, got {encoding}")
        sample_rate = parse_integer(query, "sample_rate", None)
        if not sample_rate:
            raise ValueError("sample_rate is required when encoding is set")
        if parse_integer(query, "channels", 1) != 1:
            raise ValueError("the fake supports channels=1 only")
        interim = parse_flag(query, "interim_results", False)
        disabled = query.get("endpointing") == "false"
        endpointing = None if disabled else parse_integer(query, "endpointing", 10)
        utterance_end = parse_integer(query, "utterance_end_ms", None)
        if utterance_end is not None and not interim:
            raise ValueError("utterance_end_ms requires interim_results=true")
        keyterms = tuple(value for key, value in pairs if key == "keyterm")
        if keyterms and not model.startswith("nova-3"):
            raise ValueError(f"keyterm is only available with Nova-3 models, got model={model}")
        language = query.get("language", "en")
        if language == "multi" and not model.startswith(("nova-3", "nova-2")):
            raise ValueError(f"language=multi needs a Nova-2 or Nova-3 model, got model={model}")
        if model.startswith("nova-3") and language not in NOVA3_LANGUAGES:
            raise ValueError(NO_SUCH_COMBINATION)
        redact = tuple(value for key, value in pairs if key == "redact")
        unknown = [value for value in redact if value not in REDACT_VALUES]
        if unknown:
            raise ValueError(f"redact must be one of {sorted(REDACT_VALUES)}, got {unknown[0]}")
        return cls(
            model=model,
            encoding=encoding,
            sample_rate=sample_rate,
            interim_results=interim,
            endpointing_ms=endpointing,
            utterance_end_ms=utterance_end,
            vad_events=parse_flag(query, "vad_events", False),
            punctuate=parse_flag(query, "punctuate", False)
            or parse_flag(query, "smart_format", False),
            language=language,
            keyterms=keyterms,
            redact=redact,
        )

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * _ENCODINGS[self.encoding]


class ScriptedRecognizer:
    """One listen connection's recognition: audio in, Deepgram messages (dicts) out."""

    def __init__(self, params: ListenParams, script: Script, *, threshold: int) -> None:
        self.params = params
        self.request_id = str(uuid.uuid4())
        self._script = script
        self._utterance = script.finalized  # index of the utterance being heard
        self._consuming: dict[int, int] = {}  # id of a final message -> utterances used after it
        self._threshold = threshold
        self._frame_bytes = round(params.bytes_per_second * FRAME_S)
        self._partial = bytearray()
        self._sha256 = hashlib.sha256()
        self._frames = 0
        self._in_speech = False
        self._speech_start = self._speech_end = 0.0
        self._silence_s = 0.0
        self._cursor = 0.0  # end of the last final result: where the next one starts
        self._next_interim = 0.0
        self._interims = 0
        self._utterance_end_due: float | None = None  # last word end awaiting its gap

    @property
    def position_s(self) -> float:
        return round(self._frames * FRAME_S, 3)

    def feed(self, audio: bytes) -> list[dict[str, Any]]:
        self._sha256.update(audio)
        self._partial += audio
        out: list[dict[str, Any]] = []
        while len(self._partial) >= self._frame_bytes:
            frame = bytes(self._partial[: self._frame_bytes])
            del self._partial[: self._frame_bytes]
            out += self._on_frame(frame)
        return out

    def sent(self, message: dict[str, Any]) -> None:
        """``message`` reached the client: a final result uses up its utterance for good."""
        used = self._consuming.pop(id(message), None)
        if used is not None:
            self._script.finalized = max(self._script.finalized, used)

    def finalize(self) -> list[dict[str, Any]]:
        """Finalize: the words so far as a final result now (``from_finalize``)."""
        if self._in_speech:
            return [self._final(speech_final=False, from_finalize=True)]
        if self.position_s > self._cursor:
            return [self._empty_final(from_finalize=True)]
        return []

    def close_stream(self) -> list[dict[str, Any]]:
        """CloseStream: the last final result, if speech is pending, then the summary."""
        out = [self._final(speech_final=False, from_finalize=False)] if self._in_speech else []
        out.append(
            {
                "type": "Metadata",
                "transaction_key": "deprecated",
                "request_id": self.request_id,
                "sha256": self._sha256.hexdigest(),
                "created": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "duration": self.position_s,
                "channels": 1,
                "models": [MODEL_UUID],
                "model_info": {MODEL_UUID: self._model_info()},
            }
        )
        return out

    def _on_frame(self, frame: bytes) -> list[dict[str, Any]]:
        start = self.position_s
        self._frames += 1
        end = self.position_s
        if self._energy(frame) > self._threshold:
            return self._on_speech(start, end)
        if self._in_speech:
            self._silence_s += FRAME_S
            endpoint_ms = self.params.endpointing_ms
            if self._silence_s * 1000 >= (1000 if endpoint_ms is None else endpoint_ms):
                return [self._final(speech_final=endpoint_ms is not None, from_finalize=False)]
        elif self._utterance_end_due is not None:
            assert self.params.utterance_end_ms is not None
            if end - self._utterance_end_due >= self.params.utterance_end_ms / 1000:
                last_word_end, self._utterance_end_due = self._utterance_end_due, None
                return [{"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": last_word_end}]
        elif end - self._cursor >= EMPTY_FINAL_AFTER_S:
            return [self._empty_final(from_finalize=False)]
        return []

    def _on_speech(self, start: float, end: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        self._silence_s = 0.0
        self._utterance_end_due = None
        if not self._in_speech:
            self._in_speech = True
            self._speech_start = start
            self._interims = 0
            self._next_interim = start + INTERIM_INTERVAL_S
            if self.params.vad_events:
                out.append({"type": "SpeechStarted", "channel": [0], "timestamp": start})
        self._speech_end = end
        if self.params.interim_results and end >= self._next_interim:
            self._next_interim += INTERIM_INTERVAL_S
            self._interims += 1
            utterance = self._script.at(self._utterance)
            words = utterance.text.split()[: self._interims]
            out.append(self._results(" ".join(words), utterance, end, is_final=False))
        return out

    def _final(self, *, speech_final: bool, from_finalize: bool) -> dict[str, Any]:
        utterance = self._script.at(self._utterance)
        self._utterance += 1
        message = self._results(
            utterance.text,
            utterance,
            self.position_s,
            is_final=True,
            speech_final=speech_final,
            from_finalize=from_finalize,
        )
        self._cursor = self.position_s
        self._in_speech = False
        self._silence_s = 0.0
        if self.params.utterance_end_ms is not None and utterance.text:
            self._utterance_end_due = round(self._speech_end, 3)
        self._consuming[id(message)] = self._utterance
        return message

    def _empty_final(self, *, from_finalize: bool) -> dict[str, Any]:
        end = self.position_s
        message = self._results("", None, end, is_final=True, from_finalize=from_finalize)
        self._cursor = end
        return message

    def _results(
        self,
        text: str,
        utterance: Utterance | None,
        end: float,
        *,
        is_final: bool,
        speech_final: bool = False,
        from_finalize: bool = False,
    ) -> dict[str, Any]:
        """A ``Results`` message for ``text`` spoken between the speech start and ``end``."""
        multi = self.params.language == "multi"
        tokens = text.split()
        span = (self._speech_end if is_final else end) - self._speech_start
        step = span / len(tokens) if tokens else 0.0
        words: list[dict[str, Any]] = []
        for index, token in enumerate(tokens):
            word: dict[str, Any] = {
                "word": token.strip(_PUNCTUATION).lower(),
                "start": round(self._speech_start + index * step, 3),
                "end": round(self._speech_start + (index + 1) * step, 3),
                "confidence": 0.98,
            }
            if self.params.punctuate:
                word["punctuated_word"] = token
            if multi:
                word["language"] = utterance.language_of(index) if utterance else "en"
            words.append(word)
        transcript = text if self.params.punctuate else " ".join(w["word"] for w in words)
        alternative: dict[str, Any] = {
            "transcript": transcript,
            "confidence": 0.97 if words else 0.0,
            "words": words,
        }
        if multi:
            # Every language heard, the one with the most words first (ties: first heard).
            counts = Counter(str(w["language"]) for w in words)
            alternative["languages"] = sorted(counts, key=lambda tag: -counts[tag])
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(end - self._cursor, 3),
            "start": self._cursor,
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [alternative]},
            "metadata": {
                "request_id": self.request_id,
                "model_info": self._model_info(),
                "model_uuid": MODEL_UUID,
            },
        }

    def _model_info(self) -> dict[str, str]:
        arch = self.params.model.split("-general")[0]
        return {"name": f"general-{arch}", "version": "2025-01-01.0", "arch": arch}

    def _energy(self, frame: bytes) -> float:
        if self.params.encoding == "mulaw":
            samples = ulaw_to_array(frame)
        else:
            samples = np.frombuffer(frame, dtype="<i2")
        return float(np.mean(np.abs(samples.astype(np.int32))))
