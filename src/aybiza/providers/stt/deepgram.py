"""Deepgram live speech-to-text (Nova-3) over its WebSocket API, PROTOCOLS.md section 3.

The engine builds each call's ``/v1/listen`` URL and opens a ``DeepgramStream`` (see
``deepgram_stream``), which passes Twilio's μ-law through untouched and survives dropped sockets.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

from aybiza.agents.speech import SttOptions
from aybiza.providers.stt.deepgram_results import LanguageMatcher
from aybiza.providers.stt.deepgram_stream import (
    BYTES_PER_SECOND,
    ENGINE,
    DeepgramStream,
    ListenSettings,
    connect_listen,
)
from aybiza.providers.stt.nova3_languages import MULTILINGUAL, nova3_language
from aybiza.providers.stt.reconnect_budget import Clock, ReconnectLimits, Sleep

__all__ = ["DeepgramStream", "DeepgramStt"]

# The agent's PII categories (``aybiza.security.pii``) Deepgram's live ``redact`` covers:
# ``pci`` is the card number, its expiry and CVV; ``ssn``. The platform redacts the rest (and
# these too) from what it stores.
REDACT_VALUES = {"credit_card": "pci", "card_expiry": "pci", "cvv": "pci", "ssn": "ssn"}


class DeepgramStt:
    """Deepgram live transcription; implements ``SttEngine``. Shared by every call in a process.

    - ``base_url``: ``wss://api.deepgram.com``, or a self-hosted Deepgram or fake; ``https://``
      and ``http://`` are accepted too and mean ``wss://`` and ``ws://``.
    - ``model``: the Deepgram model (``nova-3``; ``keyterm`` and ``language=multi`` need Nova-3).
    - ``keepalive_interval_s``: a KeepAlive goes out after this long without audio (Deepgram
      closes an idle stream after 10 s).
    - ``reconnect_attempts``: after an unexpected close, connection attempts before the stream
      gives up (also the most connections in a row that may close before any result).
    - ``reconnect_backoff_s``, ``reconnect_backoff_max_s``: the wait before a reconnect,
      doubling with each reconnect since the last final result up to the maximum, each wait
      between half and all of that (jitter).
    - ``max_reconnects_per_minute``: past it the stream gives up (``ReconnectGaveUpError``).
    - ``clock``, ``sleep``: what the reconnect backoff reads and waits with (tests simulate).
    - ``connect_timeout_s``: WebSocket handshake deadline.
    - ``close_timeout_s``: how long ``close()`` waits for the last results after CloseStream.
    """

    name = ENGINE
    # A Finalize mid-sentence flushes what was said so far; the words after it follow as the
    # next stretch of the same turn, so the pipeline may finalise early (TurnDetector).
    finalizes_early = True

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "wss://api.deepgram.com",
        model: str = "nova-3",
        keepalive_interval_s: float = 4.0,
        reconnect_attempts: int = 3,
        reconnect_backoff_s: float = 0.25,
        reconnect_backoff_max_s: float = 8.0,
        max_reconnects_per_minute: int = 10,
        connect_timeout_s: float = 5.0,
        close_timeout_s: float = 2.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must be a Deepgram API key, got an empty string")
        if reconnect_attempts < 1:
            raise ValueError(f"reconnect_attempts must be at least 1, got {reconnect_attempts}")
        self._listen_url = _websocket_base(base_url) + "/v1/listen"
        self._model = model
        self._settings = ListenSettings(
            api_key=api_key,
            keepalive_interval_s=keepalive_interval_s,
            reconnect_attempts=reconnect_attempts,
            reconnect_limits=ReconnectLimits(
                initial_backoff_s=reconnect_backoff_s,
                max_backoff_s=max(reconnect_backoff_max_s, reconnect_backoff_s),
                max_per_window=max_reconnects_per_minute,
                window_s=60.0,
                clock=clock,
                sleep=sleep,
            ),
            connect_timeout_s=connect_timeout_s,
            close_timeout_s=close_timeout_s,
        )

    def listen_url(self, options: SttOptions) -> str:
        """The ``/v1/listen`` URL for a stream with these options."""
        params: list[tuple[str, str]] = [
            ("model", self._model),
            ("encoding", "mulaw"),
            ("sample_rate", str(BYTES_PER_SECOND)),
            ("channels", "1"),
            ("interim_results", "true"),
            ("endpointing", str(options.endpointing_ms)),
            ("utterance_end_ms", "1000"),
            ("vad_events", "true"),
            ("smart_format", "true"),
            ("punctuate", "true"),
            ("language", self.listen_language(options)),
        ]
        params += [("keyterm", term) for term in options.keyterms]
        redact = {REDACT_VALUES[c] for c in options.redact if c in REDACT_VALUES}
        params += [("redact", value) for value in sorted(redact)]
        return f"{self._listen_url}?{urlencode(params)}"

    def listen_language(self, options: SttOptions) -> str:
        """The ``language`` a stream asks for: ``multi`` when detecting among several
        languages, else the agent's primary language as a code the model accepts (Nova-3:
        ``es-ES`` -> ``es``, see ``nova3_languages``; other models: the tag as given)."""
        if options.detect_language and len(options.languages) > 1:
            return MULTILINGUAL
        if self._model.startswith("nova-3"):
            return nova3_language(options.language)
        return options.language

    async def open_stream(self, options: SttOptions) -> DeepgramStream:
        """Connect a recognition stream for one call.

        Raises ``AuthenticationError`` (key refused), ``InvalidRequestError`` (parameters
        refused) or ``EngineUnavailableError`` (cannot connect).
        """
        url = self.listen_url(options)
        socket = await connect_listen(url, self._settings)
        multilingual = options.detect_language and len(options.languages) > 1
        matcher = LanguageMatcher(options.languages) if multilingual else None
        return DeepgramStream(socket, url, self._settings, matcher)

    async def aclose(self) -> None:
        """Nothing is shared between streams: each call's socket closes with its stream."""


def _websocket_base(base_url: str) -> str:
    """``base_url`` as a ``ws(s)://`` URL without a trailing slash (``https`` -> ``wss``)."""
    parts = urlsplit(base_url.rstrip("/"))
    schemes = {"wss": "wss", "https": "wss", "ws": "ws", "http": "ws"}
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(
            f"base_url must be a wss://, ws://, https:// or http:// URL, got {base_url!r}"
        )
    return urlunsplit(parts._replace(scheme=schemes[parts.scheme]))
