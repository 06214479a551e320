"""Failover across models, with the real Bedrock adapter against the fake Bedrock runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.llm_server import HttpError, Reply

from aybiza.conversation.failover import Attempt, respond_with_failover
from aybiza.providers.base import AnswerEnd, LlmRequest, Message, TextDelta
from aybiza.providers.errors import InvalidRequestError, ThrottledError
from aybiza.providers.llm.bedrock import BedrockLlm

SLOW = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
FAST = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


@pytest.fixture
async def bedrock(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeBedrock, BedrockLlm]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    async with FakeBedrock() as fake:
        engine = BedrockLlm(region="us-east-1", endpoint_url=fake.url)
        try:
            yield fake, engine
        finally:
            await engine.aclose()


def request_for(model: str) -> LlmRequest:
    return LlmRequest(system="Be brief.", messages=(Message("user", "hello"),), model=model)


async def answer(
    engine: BedrockLlm, models: tuple[str, ...], deadline_s: float | None
) -> tuple[str, list[Attempt]]:
    attempts: list[Attempt] = []
    text = ""
    events = respond_with_failover(
        engine.open_session("call"), request_for, models, deadline_s=deadline_s, attempts=attempts
    )
    async for event in events:
        if isinstance(event, TextDelta):
            text += event.text
        else:
            assert isinstance(event, AnswerEnd)
    return text, attempts


async def test_a_throttled_model_hands_over_to_the_next(
    bedrock: tuple[FakeBedrock, BedrockLlm],
) -> None:
    fake, engine = bedrock
    fake.script(HttpError(429, "ThrottlingException", "slow down"), model=SLOW)
    fake.script(Reply(text="From the second model."), model=FAST)
    text, attempts = await answer(engine, (SLOW, FAST), deadline_s=5)
    assert text == "From the second model."
    assert attempts == [Attempt(SLOW, "ThrottledError"), Attempt(FAST, "won")]


async def test_a_slow_model_is_hedged_and_the_first_to_answer_wins(
    bedrock: tuple[FakeBedrock, BedrockLlm],
) -> None:
    fake, engine = bedrock
    fake.script(Reply(text="Too late.", first_token_ms=3000), model=SLOW)
    fake.script(Reply(text="Quick answer."), model=FAST)
    text, attempts = await answer(engine, (SLOW, FAST), deadline_s=0.3)
    assert text == "Quick answer."
    assert attempts == [Attempt(SLOW, "slow"), Attempt(FAST, "won")]
    await fake.wait_disconnect()  # the slow stream was abandoned, not left running


async def test_when_every_model_fails_the_last_error_is_raised(
    bedrock: tuple[FakeBedrock, BedrockLlm],
) -> None:
    fake, engine = bedrock
    fake.script(HttpError(429, "ThrottlingException", "no"), model=SLOW)
    fake.script(HttpError(429, "ThrottlingException", "still no"), model=FAST)
    with pytest.raises(ThrottledError):
        await answer(engine, (SLOW, FAST), deadline_s=5)


async def test_an_invalid_request_is_not_retried_on_other_models(
    bedrock: tuple[FakeBedrock, BedrockLlm],
) -> None:
    fake, engine = bedrock
    fake.script(HttpError(400, "ValidationException", "bad input"), model=SLOW)
    with pytest.raises(InvalidRequestError):
        await answer(engine, (SLOW, FAST), deadline_s=5)
    assert [r.model for r in fake.requests] == [SLOW]
