"""The seed agent's voices and languages through the real Deepgram adapters and the fake
Deepgram: Aura-1 names sent as Aura-2 voices (and recorded on the call), a voice of each
supported language, Nova-3 language codes, and multilingual recognition for ``auto_detect``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram

from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.config import Settings
from aybiza.providers.engines import Engines
from aybiza.providers.registry import EngineRegistry
from aybiza.providers.stt.nova3_languages import nova3_language
from aybiza.providers.tts.aura_voices import AURA1_TO_AURA2, AURA2_VOICE_BY_LANGUAGE
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.services.call_plan import build_plan

# The seed's "Enhanced Agent Configuration Example", as far as voices and languages go.
SEED: dict[str, Any] = {
    "name": "Customer Support Agent",
    "system_prompt": "You are a helpful customer support agent for ACME Corp...",
    "voice": {"model": "aura-asteria-en", "style": "calm_informative"},
    "language": {"primary": "en-US", "auto_detect": True, "supported": ["en-US", "es-ES", "fr-FR"]},
}


@pytest.fixture
async def deepgram() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram() as fake:
        yield fake


@pytest.fixture
async def registry(deepgram: FakeDeepgram) -> AsyncIterator[EngineRegistry]:
    engines = EngineRegistry(Settings(deepgram_api_key=FAKE_API_KEY, deepgram_url=deepgram.url))
    try:
        yield engines
    finally:
        await engines.aclose()


def agent(**changes: Any) -> AgentConfig:
    return validate_agent_config({**SEED, **changes})


async def speak_once(engines: Engines, config: AgentConfig, language: str) -> None:
    plan = build_plan(config, engines, call_id="call", call_sid="CA1", agent_key="agent@1")
    session = engines.tts.open_session(plan.voice_for(language))
    try:
        async for _ in session.stream("Hello there."):
            pass
    finally:
        await session.aclose()


async def test_item16_seed_aura1_voice_is_sent_as_aura2_and_each_language_gets_its_own_voice(
    deepgram: FakeDeepgram, registry: EngineRegistry
) -> None:
    config = agent()
    engines = registry.resolve(config, "agent@1")
    assert engines.describe()["voice_mapped"] == "aura-asteria-en -> aura-2-asteria-en"
    for language in ("en-US", "es-ES", "fr-FR"):
        await speak_once(engines, config, language)
    models = [dict(c.query)["model"] for c in deepgram.speak_connections]
    assert models == ["aura-2-asteria-en", "aura-2-celeste-es", "aura-2-agathe-fr"]


async def test_item16_es_es_is_sent_to_nova3_as_es_and_auto_detect_listens_in_multi(
    deepgram: FakeDeepgram, registry: EngineRegistry
) -> None:
    spanish = agent(language={"primary": "es-ES"})
    engines = registry.resolve(spanish, "agent@1")
    assert engines.describe()["stt_language"] == "es-ES -> es"
    # The fake refuses, as Deepgram does, a code Nova-3 does not serve (es-ES was one).
    stream = await engines.stt.open_stream(spanish.stt_options())
    await stream.close()
    seed = agent()
    stream = await registry.resolve(seed, "agent@1").stt.open_stream(seed.stt_options())
    await stream.close()
    languages = [dict(c.query)["language"] for c in deepgram.listen_connections]
    assert languages == ["es", "multi"]


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en-US", "en-US"),
        ("en-CA", "en"),
        ("es-ES", "es"),
        ("es-MX", "es-419"),
        ("es_us", "es-419"),
        ("fr-FR", "fr"),
        ("fr-CA", "fr-CA"),
        ("pt-BR", "pt-BR"),
        ("de-AT", "de"),
        ("zh-hant", "zh-Hant"),
        ("xx-YY", "xx-YY"),
    ],
)
def test_agent_tags_become_the_codes_nova3_accepts(tag: str, code: str) -> None:
    assert nova3_language(tag) == code


def test_every_aura1_voice_maps_to_an_aura2_english_voice_and_every_language_voice_is_its_own() -> (
    None
):
    assert len(AURA1_TO_AURA2) == 12
    assert all(v.startswith("aura-2-") and v.endswith("-en") for v in AURA1_TO_AURA2.values())
    assert all(voice.endswith(f"-{lang}") for lang, voice in AURA2_VOICE_BY_LANGUAGE.items())


async def test_an_aura2_voice_is_not_recorded_as_mapped(registry: EngineRegistry) -> None:
    engines = registry.resolve(agent(voice={"model": "aura-2-thalia-en"}), "agent@1")
    assert "voice_mapped" not in engines.describe()


async def test_an_embedded_voice_speaks_each_supported_language_with_that_languages_voice() -> None:
    config = agent(voice={"model": "en-us"})
    registry = EngineRegistry(Settings())
    tts = EspeakTts()
    try:
        engines = registry.resolve(config, "agent@1")
        plan = build_plan(config, engines, call_id="call", call_sid="CA1", agent_key="agent@1")
        assert plan.voice_for("en-US").model == "en-us"
        spanish = plan.voice_for("es-ES")
        assert (spanish.model, spanish.language) == ("es-ES", "es-ES")
        # espeak-ng reads the tag as its Spanish voice, not the agent's English one.
        assert await tts.voice_name(spanish) == "es"
        assert await tts.voice_name(plan.voice_for("en-US")) == "en-us"
        assert await tts.synthesize("Hola, buenos días.", spanish)
    finally:
        await tts.aclose()
        await registry.aclose()
