"""Transport failures that a fake server cannot easily cause still get the right typed error."""

from __future__ import annotations

import aiohttp
import pytest
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
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
)
from aybiza.providers.llm.bedrock_errors import bedrock_error, response_error, stream_error

URL = "https://bedrock-runtime.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ReadTimeoutError(endpoint_url=URL), EngineTimeoutError),
        (aiohttp.ServerTimeoutError("Timeout on reading data from socket"), EngineTimeoutError),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), EngineTimeoutError),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), EngineUnavailableError),
        (TimeoutError(), EngineTimeoutError),
        (ConnectTimeoutError(endpoint_url=URL), EngineUnavailableError),
        (EndpointConnectionError(endpoint_url=URL), EngineUnavailableError),
        (aiohttp.ClientPayloadError("Response payload is not completed"), EngineUnavailableError),
        (ChecksumMismatch(1, 2), EngineUnavailableError),
        (NoCredentialsError(), AuthenticationError),
        (ParamValidationError(report="Invalid type for parameter messages"), InvalidRequestError),
    ],
)
def test_transport_failures_map_to_typed_errors(
    failure: BaseException, expected: type[EngineError]
) -> None:
    error = bedrock_error(failure)
    assert type(error) is expected
    assert error.engine == "bedrock"


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected", "text"),
    [
        # Bedrock's own: the code in x-amzn-ErrorType, the message in the body.
        (
            429,
            {"x-amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/coral/"},
            b'{"message":"Too many requests"}',
            ThrottledError,
            "ThrottlingException: Too many requests",
        ),
        # No header: the body's code, or its __type (namespace and suffix cut, as botocore).
        (
            400,
            {},
            b'{"__type":"com.amazon.bedrock#ValidationException","Message":"bad input"}',
            InvalidRequestError,
            "ValidationException: bad input",
        ),
        (403, {}, b'{"code":"ExpiredTokenException"}', AuthenticationError, "ExpiredToken"),
        # Not JSON (a proxy's page): the status decides and its reason phrase explains.
        (502, {}, b"<html>Bad gateway</html>", EngineUnavailableError, "502: Bad Gateway"),
        (504, {}, b"", EngineTimeoutError, "504: Gateway Timeout"),
        (429, {}, b"{}", ThrottledError, "429: Too Many Requests"),
    ],
)
def test_error_responses_are_read_as_botocore_reads_them(
    status: int,
    headers: dict[str, str],
    body: bytes,
    expected: type[EngineError],
    text: str,
) -> None:
    error = response_error(status, headers, body)
    assert type(error) is expected
    assert error.status == status
    assert text in str(error)


def test_an_exception_frame_maps_by_its_exception_type() -> None:
    error = stream_error(
        {":message-type": "exception", ":exception-type": "modelStreamErrorException"},
        b'{"message":"The model failed"}',
    )
    assert type(error) is ModelStreamError
    assert str(error) == "bedrock: modelStreamErrorException: The model failed"


def test_a_generic_error_frame_maps_by_its_error_code_header() -> None:
    error = stream_error(
        {":message-type": "error", ":error-code": "ThrottlingException", ":error-message": "slow"},
        b"",
    )
    assert type(error) is ThrottledError
    assert "slow" in str(error)
