"""Typed engine failures, so the conversation engine can decide: retry elsewhere, or give up.

Adapters translate their vendor's errors (HTTP status, in-stream exceptions, socket closes) into
these. ``retryable`` says whether the same request may succeed on another model or attempt.
"""

from __future__ import annotations


class EngineError(Exception):
    """An engine failed. ``engine`` names it (``bedrock``, ``deepgram``...)."""

    retryable = False

    def __init__(self, engine: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{engine}: {message}")
        self.engine = engine
        self.status = status


class ThrottledError(EngineError):
    """Rate limited or over quota (Bedrock ThrottlingException, HTTP 429, Anthropic 529)."""

    retryable = True


class EngineUnavailableError(EngineError):
    """The service failed or could not be reached (5xx, connection refused, socket dropped)."""

    retryable = True


class EngineTimeoutError(EngineError):
    """No answer in the time allowed (ModelTimeoutException, a first token past the deadline)."""

    retryable = True


class ModelStreamError(EngineError):
    """The model failed in the middle of its answer (Bedrock modelStreamErrorException)."""

    retryable = True


class InvalidRequestError(EngineError):
    """The request itself was refused (validation, unknown model, access denied): retrying the
    same request elsewhere will not help unless the model changes."""


class AuthenticationError(EngineError):
    """The credentials were refused."""


class ReconnectGaveUpError(EngineUnavailableError):
    """A live stream lost its connection and stopped reconnecting: the endpoint kept refusing
    or dropping it, or it needed more reconnects than its budget allows (``attempts`` made in
    ``window_s``). The stream is over; the call should move to another engine."""

    def __init__(
        self, engine: str, message: str, *, attempts: int, window_s: float | None = None
    ) -> None:
        super().__init__(engine, message)
        self.attempts = attempts
        self.window_s = window_s
