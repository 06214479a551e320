"""What botocore resolves once per Bedrock engine: the endpoint, the credentials (refreshed when
they can be) and a bearer token; each answer is signed with them."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.fakes.bedrock import FakeBedrock

from aybiza.providers.base import AnswerEnd, LlmRequest, Message
from aybiza.providers.llm.bedrock import BedrockLlm

HELLO = LlmRequest(system="Be brief.", messages=(Message("user", "Hello?"),))

# A botocore ``credential_process``: each run hands out the next access key, valid for five
# minutes, so botocore refreshes before every use (its mandatory window is ten minutes).
CREDENTIAL_PROCESS = """
import datetime, json, pathlib, sys
counter = pathlib.Path(sys.argv[1])
runs = int(counter.read_text() or 0) + 1 if counter.exists() else 1
counter.write_text(str(runs))
expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
print(json.dumps({"Version": 1, "AccessKeyId": f"AKIDRUN{runs}", "SecretAccessKey": "s",
                  "SessionToken": f"token{runs}", "Expiration": expires.isoformat()}))
"""


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_USE_FIPS_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock() as server:
        yield server


async def answer(engine: BedrockLlm) -> None:
    events = [event async for event in engine.open_session("call-1").respond(HELLO)]
    assert isinstance(events[-1], AnswerEnd)


def access_key(authorization: str) -> str:
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


async def test_refreshable_credentials_are_refreshed_by_botocore_before_they_expire(
    fake: FakeBedrock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "credentials.py"
    script.write_text(CREDENTIAL_PROCESS)
    config = tmp_path / "config"
    counter = tmp_path / "runs"
    config.write_text(f"[default]\ncredential_process = {sys.executable} {script} {counter}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    engine = BedrockLlm(region="us-east-1", endpoint_url=fake.url)
    try:
        await engine.prepare()
        resolved_with = counter.read_text()
        await answer(engine)
        await answer(engine)
    finally:
        await engine.aclose()
    keys = [access_key(request.headers["authorization"]) for request in fake.requests]
    tokens = [request.headers["x-amz-security-token"] for request in fake.requests]
    first = int(resolved_with)
    assert keys == [f"AKIDRUN{first + 1}", f"AKIDRUN{first + 2}"]
    assert tokens == [f"token{first + 1}", f"token{first + 2}"]


async def test_static_keys_are_read_once_and_used_for_every_answer(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSTATIC")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    engine = BedrockLlm(region="us-east-1", endpoint_url=fake.url)
    try:
        await answer(engine)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCHANGED")  # resolved already: not read
        await answer(engine)
    finally:
        await engine.aclose()
    keys = [access_key(request.headers["authorization"]) for request in fake.requests]
    assert keys == ["AKIDSTATIC", "AKIDSTATIC"]


async def test_a_bedrock_bearer_token_is_sent_instead_of_a_signature(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-123")
    engine = BedrockLlm(region="us-east-1", endpoint_url=fake.url)
    try:
        await answer(engine)
    finally:
        await engine.aclose()
    headers = fake.requests[0].headers
    assert headers["authorization"] == "Bearer bedrock-api-key-123"
    assert "x-amz-date" not in headers


async def test_without_endpoint_url_botocore_s_endpoint_settings_apply(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
    engine = BedrockLlm(region="us-east-1")
    try:
        await answer(engine)
    finally:
        await engine.aclose()
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("region", "fips", "endpoint"),
    [
        ("us-east-1", False, "https://bedrock-runtime.us-east-1.amazonaws.com"),
        ("eu-west-3", False, "https://bedrock-runtime.eu-west-3.amazonaws.com"),
        ("cn-north-1", False, "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"),
        ("us-east-1", True, "https://bedrock-runtime-fips.us-east-1.amazonaws.com"),
    ],
)
async def test_the_region_s_endpoint_comes_from_botocore_s_rules(
    monkeypatch: pytest.MonkeyPatch, region: str, fips: bool, endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    if fips:
        monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    engine = BedrockLlm(region=region)
    target = await engine.prepare()  # resolves only: nothing is sent
    assert target.endpoint_url == endpoint
    assert target.region == region
    model_id = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert target.converse_stream_url(model_id) == (
        f"{endpoint}/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
    )
    await engine.aclose()
