"""Deepgram live-transcription server messages turned into ``SttEvent``s (PROTOCOLS.md 3.3).

Wire format only: no sockets here. ``parse_listen_message`` reads one JSON text frame from
``/v1/listen`` and says which events it carries and, for a final result, where in the
connection's audio the finalized stretch ends (the stream uses that to forget acknowledged audio).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from aybiza.providers.base import SttEvent

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ListenReply:
    """What one server message means for the stream.

    ``final_end_s``: for an ``is_final`` result, ``start + duration``: seconds from the start of
    this connection's audio up to which Deepgram will never send results again.
    """

    events: tuple[SttEvent, ...] = ()
    final_end_s: float | None = None


class LanguageMatcher:
    """Maps a language Deepgram detected (``es``) to the agent's own tag for it (``es-ES``).

    The agent lists its languages as BCP 47 tags; Nova-3 multilingual reports base languages, and
    sometimes regional tags of its own (``en-US``). A tag the agent lists exactly wins; otherwise
    the first agent tag with the same base language; otherwise Deepgram's tag as reported.
    """

    def __init__(self, languages: Sequence[str]) -> None:
        self._exact = {tag.lower(): tag for tag in languages}
        self._by_base: dict[str, str] = {}
        for tag in languages:
            self._by_base.setdefault(_base(tag), tag)

    def match(self, detected: str) -> str:
        """The agent's tag for ``detected``."""
        return self._exact.get(detected.lower()) or self._by_base.get(_base(detected)) or detected


def _base(tag: str) -> str:
    return tag.replace("_", "-").split("-")[0].lower()


def parse_listen_message(text: str, languages: LanguageMatcher | None = None) -> ListenReply:
    """Events in one ``/v1/listen`` text frame. ``languages`` is set in multilingual mode only:
    then each result's detected language is reported on its events.

    ``Metadata`` and unknown types carry no events; a malformed message is logged and skipped
    (one bad frame must not end the caller's recognition).
    """
    try:
        message = json.loads(text)
    except ValueError:
        log.warning("stt.deepgram.unparsable_message", message=text[:200])
        return ListenReply()
    if not isinstance(message, dict):
        return ListenReply()
    kind = message.get("type")
    if kind == "Results":
        return _results(message, languages)
    if kind == "SpeechStarted":
        return ListenReply((SttEvent("speech_started"),))
    if kind == "UtteranceEnd":
        return ListenReply((SttEvent("end_of_speech"),))
    if kind == "Error":
        log.warning("stt.deepgram.error_message", message=message)
    return ListenReply()


def _results(message: dict[str, Any], languages: LanguageMatcher | None) -> ListenReply:
    try:
        alternative = message["channel"]["alternatives"][0]
        transcript = str(alternative.get("transcript") or "").strip()
        is_final = bool(message.get("is_final"))
        speech_final = bool(message.get("speech_final"))
        from_finalize = bool(message.get("from_finalize"))
        end_s = float(message["start"]) + float(message["duration"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        log.warning("stt.deepgram.malformed_results", message=str(message)[:300])
        return ListenReply()
    language = _detected_language(alternative, languages)
    if not is_final:
        if not transcript:
            return ListenReply()
        return ListenReply((SttEvent("interim", transcript, language=language),))
    # An empty final still matters when it marks the end of the caller's turn: Deepgram's own
    # endpoint (speech_final), or the answer to the pipeline's Finalize (from_finalize).
    if not transcript and not (speech_final or from_finalize):
        return ListenReply(final_end_s=end_s)
    confidence = alternative.get("confidence")
    event = SttEvent(
        "final",
        transcript,
        speech_final=speech_final,
        confidence=float(confidence) if isinstance(confidence, int | float) else None,
        language=language,
    )
    return ListenReply((event,), final_end_s=end_s)


def _detected_language(
    alternative: dict[str, Any], languages: LanguageMatcher | None
) -> str | None:
    if languages is None:
        return None
    detected = alternative.get("languages")
    if isinstance(detected, list) and detected and isinstance(detected[0], str):
        return languages.match(detected[0])
    # ``languages`` can be absent on audio that switches languages; the words still say.
    counts: dict[str, int] = {}
    for word in alternative.get("words") or ():
        tag = word.get("language") if isinstance(word, dict) else None
        if isinstance(tag, str) and tag:
            counts[tag] = counts.get(tag, 0) + 1
    if not counts:
        return None
    return languages.match(max(counts, key=lambda tag: counts[tag]))
