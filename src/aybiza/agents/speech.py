"""What an agent asks of speech engines: recognition options and its voice."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SttOptions:
    """What a recognition stream needs to know; every field has a working default."""

    language: str = "en-US"
    # Phrases the agent expects to hear; an engine may constrain recognition to them.
    expected_phrases: tuple[str, ...] = ()
    # Words to boost (Deepgram ``keyterm``).
    keyterms: tuple[str, ...] = ()
    endpointing_ms: int = 300
    # Languages the caller may speak; with more than one and ``detect_language``, an engine that
    # can (Deepgram Nova-3 ``language=multi``) recognises all of them and reports which it heard.
    languages: tuple[str, ...] = ()
    detect_language: bool = False
    # PII categories (``aybiza.security.pii``) a recogniser that can redact by itself should
    # (Deepgram ``redact``); the platform redacts what it stores in any case.
    redact: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VoiceOptions:
    """The agent's voice. ``model`` is the engine's voice name (e.g. ``aura-2-thalia-en``)."""

    model: str = "en-us"
    language: str = "en-US"
    speed: float = 1.0
