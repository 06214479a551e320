"""Bedrock failures turned into AYBIZA's typed engine errors.

The same failure reaches us in three forms: a rest-json error before the stream starts (HTTP
429 with ``x-amzn-ErrorType: ThrottlingException``), an exception frame inside the stream
(``:exception-type`` ``throttlingException``) and a transport failure (aiohttp's, or botocore's
while it resolves credentials). The error code decides first, because in-stream errors carry no
useful HTTP status. Error responses are read as botocore's rest-json parser reads them (code
from ``x-amzn-ErrorType``, else the body's ``code`` or ``__type``, else the status; message from
``message`` or ``Message``), and botocore's ``ClientError`` maps the same way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import aiohttp
from botocore.eventstream import ParserError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    NoAuthTokenError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from aybiza.providers.errors import (
    AuthenticationError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidRequestError,
    ModelStreamError,
    ThrottledError,
    error_type_for_status,
)

ENGINE = "bedrock"

# What an adapter catches around a Bedrock call; anything else is a bug and propagates.
BEDROCK_FAILURES: tuple[type[BaseException], ...] = (
    ClientError,
    BotoCoreError,
    ParserError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
)

# Error codes, lower-cased and without the ``Exception`` suffix, so the rest-json name
# (``ThrottlingException``) and the event-stream member name (``throttlingException``) match.
_BY_CODE: dict[str, type[EngineError]] = {
    "throttling": ThrottledError,
    "toomanyrequests": ThrottledError,
    "servicequotaexceeded": ThrottledError,
    "serviceunavailable": EngineUnavailableError,
    "internalserver": EngineUnavailableError,
    "modelnotready": EngineUnavailableError,
    "modeltimeout": EngineTimeoutError,
    "modelstreamerror": ModelStreamError,
    "modelerror": ModelStreamError,
    "validation": InvalidRequestError,
    "resourcenotfound": InvalidRequestError,
    "accessdenied": InvalidRequestError,
    # SigV4 or token rejections: the credentials, not the request, are wrong.
    "unrecognizedclient": AuthenticationError,
    "invalidsignature": AuthenticationError,
    "signaturedoesnotmatch": AuthenticationError,
    "incompletesignature": AuthenticationError,
    "missingauthenticationtoken": AuthenticationError,
    "invalidclienttokenid": AuthenticationError,
    "expiredtoken": AuthenticationError,
}


def bedrock_error(exc: BaseException) -> EngineError:
    """The typed error for a failure of a Bedrock call or of reading its stream."""
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(
        exc,
        NoCredentialsError | PartialCredentialsError | NoAuthTokenError | CredentialRetrievalError,
    ):
        return AuthenticationError(ENGINE, f"no usable AWS credentials: {exc}")
    if isinstance(exc, ParamValidationError):
        return InvalidRequestError(ENGINE, str(exc))
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return EngineUnavailableError(ENGINE, f"could not connect in time: {exc}")
    if isinstance(exc, ReadTimeoutError | asyncio.TimeoutError):
        return EngineTimeoutError(
            ENGINE, f"no data from Bedrock in time: {exc or type(exc).__name__}"
        )
    if isinstance(exc, ConnectTimeoutError):
        return EngineUnavailableError(ENGINE, f"could not connect in time: {exc}")
    if isinstance(exc, ParserError):
        return EngineUnavailableError(ENGINE, f"corrupt event stream: {exc}")
    return EngineUnavailableError(ENGINE, f"{type(exc).__name__}: {exc}")


def _client_error(exc: ClientError) -> EngineError:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code", ""))
    return coded_error(code, str(error.get("Message", "")) or str(exc), status)


def coded_error(code: str, message: str, status: int | None = None) -> EngineError:
    """The typed error for Bedrock's error ``code`` (``ThrottlingException`` before the
    stream, ``throttlingException`` in it), or for ``status`` when the code is not known."""
    key = code.lower().removesuffix("exception")
    error_type = _BY_CODE.get(key) or error_type_for_status(status)
    return error_type(ENGINE, f"{code or 'error'}: {message}", status=status)


def response_error(status: int, headers: Mapping[str, str], body: bytes) -> EngineError:
    """The typed error for an HTTP error response (``headers`` looked up case-insensitively,
    as aiohttp's are)."""
    payload = _json_object(body)
    if payload is None:
        # A body that is not JSON (a proxy's or load balancer's page): the status says it all.
        return coded_error(str(status), _reason(status), status)
    raw = headers.get("x-amzn-ErrorType") or payload.get("code") or payload.get("Code")
    raw = raw or payload.get("__type") or str(status)
    code = str(raw).split(":", 1)[0].rsplit("#", 1)[-1]
    message = str(payload.get("message", payload.get("Message", ""))) or _reason(status)
    return coded_error(code, message, status)


def stream_error(headers: Mapping[str, Any], payload: bytes) -> EngineError:
    """The typed error for an ``exception`` or ``error`` frame inside the stream."""
    exception_type = headers.get(":exception-type")
    if exception_type is None:
        # A generic error frame: code and message travel as headers.
        code, message = headers.get(":error-code", ""), headers.get(":error-message", "")
        return coded_error(str(code), str(message))
    body = _json_object(payload) or {}
    return coded_error(str(exception_type), str(body.get("message", body.get("Message", ""))))


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
