"""Start-up warming: what a first call would otherwise load on the event loop is loaded first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.deepgram import FAKE_API_KEY

from aybiza.config import Settings
from aybiza.providers.llm.bedrock import BedrockLlm
from aybiza.providers.registry import EngineRegistry
from aybiza.providers.stt.decoder_pool import DecoderPool
from aybiza.providers.stt.pocketsphinx import PocketsphinxStt


@pytest.fixture(autouse=True)
def dummy_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake_bedrock() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock() as server:
        yield server


class CountingFactory:
    """Creates real pocketsphinx decoders and counts them."""

    def __init__(self) -> None:
        self.engine = PocketsphinxStt(max_decoders=2)
        self.created = 0

    def __call__(self) -> object:
        self.created += 1
        return self.engine._create_decoder()


async def test_a_primed_pool_lends_the_loaded_decoder_without_loading_another() -> None:
    factory = CountingFactory()
    pool = DecoderPool(2, factory)
    try:
        await pool.prime()
        assert factory.created == 1
        await pool.prime()  # already has one: loads nothing more
        assert factory.created == 1
        decoder = await pool.acquire()
        assert factory.created == 1
        pool.release(decoder)
    finally:
        await pool.aclose()
        await factory.engine.aclose()


async def test_warm_loads_a_decoder_and_opens_the_bedrock_and_deepgram_clients(
    fake_bedrock: FakeBedrock,
) -> None:
    settings = Settings(
        deepgram_api_key=FAKE_API_KEY,
        deepgram_url="http://127.0.0.1:9",  # never contacted: warming opens no connection
        aws_credentials=True,
        aws_region="us-east-1",
        bedrock_endpoint_url=fake_bedrock.url,
    )
    registry = EngineRegistry(settings)
    try:
        assert "bedrock" in registry.preload()
        warmed = await registry.warm()
        assert warmed == ["pocketsphinx", "deepgram", "bedrock"]
        bedrock = registry.model_engine("claude-3-7-sonnet")
        assert isinstance(bedrock, BedrockLlm)
        assert bedrock.prepared
        assert fake_bedrock.requests == []  # endpoint and credentials resolved, nothing sent
    finally:
        await registry.aclose()


async def test_warm_without_cloud_engines_loads_only_the_embedded_decoder() -> None:
    registry = EngineRegistry(Settings())
    try:
        assert registry.preload() == []
        assert await registry.warm() == ["pocketsphinx"]
    finally:
        await registry.aclose()
