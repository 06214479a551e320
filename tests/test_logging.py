"""The server's logs pass a call's text through the filter bound in its context: a call whose
agent redacts cards logs none, even in a traceback; other contexts log text as it is."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import structlog

from aybiza.logging import bind_text_filter, configure_logging
from aybiza.security.pii import Redactor

CARD = "4111 1111 1111 1111"


@pytest.fixture
def configured() -> Iterator[None]:
    configure_logging("info")
    try:
        yield
    finally:
        structlog.reset_defaults()


async def test_a_call_s_logs_are_filtered_by_its_redactor_and_others_are_not(
    configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    redactor = Redactor(["credit_card"])

    async def call_task() -> None:
        bind_text_filter(redactor.redact)
        log = structlog.get_logger("test.call")
        log.warning("stt.deepgram.malformed_results", message=f'{{"transcript": "card {CARD}"}}')
        # Tasks the call starts inherit its filter.
        await asyncio.create_task(_log_failure())

    async def other_task() -> None:
        structlog.get_logger("test.other").warning("other", message=f"card {CARD}")

    await asyncio.create_task(call_task())
    await asyncio.create_task(other_task())
    lines = capsys.readouterr().out.splitlines()
    call_lines = [line for line in lines if "other" not in line]
    assert len(call_lines) >= 2 and all(CARD not in line for line in call_lines)
    assert any("[CREDIT_CARD]" in line for line in call_lines)
    assert any("ValueError" in line for line in lines)
    [other] = [line for line in lines if "[warning  ] other" in line]
    assert CARD in other


async def _log_failure() -> None:
    try:
        raise ValueError(f"could not charge {CARD}")
    except ValueError:
        structlog.get_logger("test.call").exception("charge_failed")
