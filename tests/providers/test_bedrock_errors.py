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
)
from aybiza.providers.llm.bedrock_errors import bedrock_error

URL = "https://bedrock-runtime.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ReadTimeoutError(endpoint_url=URL), EngineTimeoutError),
        (aiohttp.ServerTimeoutError("Timeout on reading data from socket"), EngineTimeoutError),
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
