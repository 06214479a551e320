"""Bedrock failures, as botocore and aiohttp raise them, turned into AYBIZA's typed engine errors.

The same failure reaches us in three forms: a rest-json error before the stream starts
(``ClientError`` with ``ThrottlingException``), an exception frame inside the stream
(``EventStreamError`` with ``throttlingException``) and a transport failure (botocore's or
aiohttp's). The error code decides first, because in-stream errors carry no useful HTTP status.
"""

from __future__ import annotations

import asyncio

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
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    key = code.lower().removesuffix("exception")
    error_type = _BY_CODE.get(key) or error_type_for_status(status)
    return error_type(ENGINE, f"{code or 'error'}: {message}", status=status)
