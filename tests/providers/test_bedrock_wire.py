"""The request BedrockLlm sends is the one botocore's own ``bedrock-runtime`` client would send.

botocore builds and signs the same ``ConverseStream`` call (its transport stubbed: the request
is caught before it leaves), both under one frozen clock, and the two must agree on the method,
the percent-encoded path, the body byte for byte and the SigV4 ``Authorization`` header (so the
signed headers, the credential scope and the signature). botocore also validates the
parameters against its service model on the way, so the request is one Bedrock accepts.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import botocore.auth
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from tests.fakes.bedrock import FakeBedrock

from aybiza.providers.base import LlmRequest, Message, ToolCall, ToolResult, ToolSpec
from aybiza.providers.llm.bedrock import BedrockLlm, converse_stream_arguments

FROZEN = datetime.datetime(2026, 12, 3, 12, 34, 56, tzinfo=datetime.UTC)
SCHEMA = {"type": "object", "properties": {"dept": {"type": "string"}}, "required": ["dept"]}
WITH_TOOLS = LlmRequest(
    system="You are a phone agent.",
    model="claude-3-5-haiku",
    temperature=0.2,
    max_tokens=300,
    language="es-ES",
    tools=(ToolSpec("transfer_call", "Transfer the caller", SCHEMA),),
    messages=(
        Message("assistant", "Hola, ¿en qué puedo ayudarle?"),
        Message("user", "Ventas, por favor."),
        Message("assistant", "Le paso.", [ToolCall("t1", "transfer_call", {"dept": "sales"})]),
        Message("user", "¿Sigue ahí?", tool_results=[ToolResult("t1", {"ok": True})]),
    ),
)
TOOLS_CLOSED = replace(WITH_TOOLS, tool_choice="none")
PLAIN = LlmRequest(system="Be brief.", messages=(Message("user", "Hello?"),))


class Caught(Exception):
    """Raised from botocore's ``before-send`` hook: the request goes no further."""


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name in ("AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    # One clock for both signers, so their signatures can be compared.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FROZEN)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock() as server:
        yield server


def botocore_request(endpoint_url: str, arguments: dict[str, Any]) -> AWSPreparedRequest:
    """The request botocore's client makes for ``converse_stream(**arguments)``."""
    client = botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
    )
    caught: list[AWSPreparedRequest] = []

    def catch(request: AWSPreparedRequest, **_: Any) -> None:
        caught.append(request)
        raise Caught

    client.meta.events.register("before-send.bedrock-runtime.ConverseStream", catch)
    with pytest.raises(Caught):
        client.converse_stream(**arguments)
    client.close()
    return caught[0]


def header(request: AWSPreparedRequest, name: str) -> str:
    """A header of botocore's prepared request (its values are bytes once signed)."""
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize(
    "request_", [WITH_TOOLS, TOOLS_CLOSED, PLAIN], ids=["tools", "closed", "plain"]
)
async def test_the_request_is_botocore_s_byte_for_byte_and_signed_alike(
    fake: FakeBedrock, request_: LlmRequest
) -> None:
    engine = BedrockLlm(region="us-east-1", endpoint_url=fake.url)
    try:
        _ = [event async for event in engine.open_session("call-1").respond(request_)]
    finally:
        await engine.aclose()
    ours = fake.requests[0]
    theirs = botocore_request(fake.url, converse_stream_arguments(request_, "us-east-1"))
    assert ours.method == theirs.method == "POST"
    assert fake.url + ours.path == theirs.url
    assert ours.raw == theirs.body
    assert ours.headers["authorization"] == header(theirs, "Authorization")
    assert ours.headers["x-amz-date"] == header(theirs, "X-Amz-Date") == "20261203T123456Z"
    assert ours.headers["content-type"] == header(theirs, "Content-Type") == "application/json"
    assert "SignedHeaders=content-type;host;x-amz-date," in ours.headers["authorization"]
    assert (
        "Credential=AKIDTEST/20261203/us-east-1/bedrock/aws4_request"
        in (ours.headers["authorization"])
    )
    assert ours.headers["user-agent"].startswith("Botocore/")


async def test_a_session_token_is_sent_and_signed_as_botocore_does(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-1")
    engine = BedrockLlm(region="us-east-1", endpoint_url=fake.url)
    try:
        _ = [event async for event in engine.open_session("call-1").respond(PLAIN)]
    finally:
        await engine.aclose()
    ours = fake.requests[0]
    theirs = botocore_request(fake.url, converse_stream_arguments(PLAIN, "us-east-1"))
    assert ours.headers["x-amz-security-token"] == "session-token-1"
    assert ours.headers["authorization"] == header(theirs, "Authorization")
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"
        in (ours.headers["authorization"])
    )
