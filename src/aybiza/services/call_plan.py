"""The call loop's settings, from the agent's configuration and the engines it runs."""

from __future__ import annotations

from aybiza.agents.schema import AgentConfig
from aybiza.agents.speech import VoiceOptions
from aybiza.conversation.routing import ModelRouter
from aybiza.pipeline.interruption import InterruptionPolicy
from aybiza.pipeline.plan import CallPlan
from aybiza.providers.engines import Engines
from aybiza.providers.tts.aura_voices import aura_voice_for, is_aura


def build_plan(
    config: AgentConfig, engines: Engines, *, call_id: str, call_sid: str, agent_key: str
) -> CallPlan:
    params = config.parameters
    models = config.models
    scripted = engines.llm.is_scripted
    languages = tuple(config.language.supported)
    return CallPlan(
        call_id=call_id,
        call_sid=call_sid,
        agent_key=agent_key,
        greeting=config.greeting,
        system_prompt=config.system_prompt,
        model="flow" if scripted else models.default,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        context_window=params.context_window,
        language=config.language.primary,
        voice=config.voice_options(),
        stt=config.stt_options(),
        end_of_turn_silence_ms=params.end_of_turn_silence_ms,
        interruption=InterruptionPolicy.from_phrases(
            params.min_voice_ms,
            config.speech.backchannel_phrases,
            config.speech.interruption_min_words,
        ),
        max_response_ms=params.max_response_time,
        filler_phrases=tuple(params.filler_phrases),
        max_call_duration_s=params.max_call_duration_s,
        router=None if scripted else ModelRouter(models.default, models.fast, models.complex),
        languages=languages,
        tools_enabled=config.automation.tools_enabled,
        uses_tools=config.automation.tools_enabled and not scripted,
        max_tool_calls=config.automation.max_tool_calls,
        detect_language=config.language.auto_detect and len(languages) > 1,
        voices=_voices(config, languages),
    )


def _voices(config: AgentConfig, languages: tuple[str, ...]) -> dict[str, VoiceOptions]:
    """A voice per supported language: the agent's own where configured, else, when the agent
    speaks with Aura, its voice if that speaks the language or Aura-2's voice of the language
    (``providers.tts.aura_voices``), else the agent's voice model (the embedded engine picks
    its voice by language)."""
    voices: dict[str, VoiceOptions] = {}
    own = config.voice.language_voices
    for language in languages:
        model = own.get(language)
        if model is None and is_aura(config.voice.model):
            model = aura_voice_for(language, config.voice.model)
        voices[language] = VoiceOptions(
            model=model or config.voice.model, language=language, speed=1.0
        )
    return voices
