"""One table turns a vendor's HTTP status into our engine errors, whichever engine asked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram

from aybiza.agents.speech import SttOptions
from aybiza.providers.errors import (
    STATUS_ERRORS,
    AuthenticationError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidRequestError,
    ModelStreamError,
    ThrottledError,
    error_type_for_status,
    status_error,
)
from aybiza.providers.stt.deepgram import DeepgramStt


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, InvalidRequestError),
        (404, InvalidRequestError),
        (408, EngineTimeoutError),
        (413, InvalidRequestError),
        (422, InvalidRequestError),
        (429, ThrottledError),
        (500, EngineUnavailableError),
        (502, EngineUnavailableError),
        (503, EngineUnavailableError),
        (504, EngineTimeoutError),
        (529, EngineUnavailableError),
        (302, EngineUnavailableError),
        (None, EngineUnavailableError),
    ],
)
def test_item5_one_table_maps_every_http_status(
    status: int | None, expected: type[EngineError]
) -> None:
    assert error_type_for_status(status) is expected


def test_item5_a_vendor_s_own_codes_override_the_table_and_nothing_else() -> None:
    overrides = {529: ThrottledError, 403: AuthenticationError}
    assert error_type_for_status(529, overrides) is ThrottledError
    assert error_type_for_status(403, overrides) is AuthenticationError
    for status in (*STATUS_ERRORS, 400, 500):
        assert error_type_for_status(status, overrides) is error_type_for_status(status)
    assert error_type_for_status(None, {0: ModelStreamError}) is EngineUnavailableError


def test_item5_the_error_carries_engine_status_and_message() -> None:
    error = status_error("deepgram", 429, "Too many requests", overrides={403: AuthenticationError})
    assert isinstance(error, ThrottledError) and error.retryable
    assert (error.engine, error.status, str(error)) == (
        "deepgram",
        429,
        "deepgram: Too many requests",
    )


@pytest.fixture
async def deepgram() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram() as server:
        yield server


async def test_item5_deepgram_s_429_handshake_is_throttled_like_every_engine_s_429(
    deepgram: FakeDeepgram,
) -> None:
    deepgram.reject_handshake_status = 429
    with pytest.raises(ThrottledError, match="429") as refused:
        await DeepgramStt(FAKE_API_KEY, base_url=deepgram.url).open_stream(SttOptions())
    assert refused.value.status == 429
