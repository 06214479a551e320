"""Typed engine failures, so the conversation engine can decide: retry elsewhere, or give up.

Adapters translate their vendor's errors (HTTP status, in-stream exceptions, socket closes) into
these. ``retryable`` says whether the same request may succeed on another model or attempt.
Every HTTP status goes through one table (``error_type_for_status``), so a 429 is a
``ThrottledError`` whichever vendor sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


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


# What an HTTP status from a vendor means, the same for every engine (and for the carriers' REST
# clients): the statuses vendors use alike. Every other 4xx refuses the request itself, and
# anything else (5xx, no status at all) is the service failing. A vendor's own codes, such as
# Anthropic's 529 "overloaded", are passed as ``overrides``.
STATUS_ERRORS: Mapping[int, type[EngineError]] = MappingProxyType(
    {
        401: AuthenticationError,
        408: EngineTimeoutError,
        429: ThrottledError,
        504: EngineTimeoutError,
    }
)
_NO_OVERRIDES: Mapping[int, type[EngineError]] = MappingProxyType({})


def error_type_for_status(
    status: int | None, overrides: Mapping[int, type[EngineError]] = _NO_OVERRIDES
) -> type[EngineError]:
    """The error class for an HTTP ``status`` (None: the response carried none), looked up in
    ``overrides``, then ``STATUS_ERRORS``, then by class: 4xx invalid, anything else
    unavailable."""
    if status is None:
        return EngineUnavailableError
    found = overrides.get(status) or STATUS_ERRORS.get(status)
    if found is not None:
        return found
    return InvalidRequestError if 400 <= status < 500 else EngineUnavailableError


def status_error(
    engine: str,
    status: int,
    message: str,
    *,
    overrides: Mapping[int, type[EngineError]] = _NO_OVERRIDES,
) -> EngineError:
    """The typed error of ``engine`` for a response with HTTP ``status``, saying ``message``."""
    return error_type_for_status(status, overrides)(engine, message, status=status)
