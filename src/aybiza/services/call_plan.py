"""The call loop's settings, from the agent's configuration and the engines it runs."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aybiza.agents.schema import AgentConfig
from aybiza.agents.speech import VoiceOptions
from aybiza.conversation.routing import ModelRouter
from aybiza.pipeline.interruption import InterruptionPolicy
from aybiza.pipeline.plan import CallPlan, VoicemailPlan
from aybiza.providers.engines import Engines
from aybiza.providers.tts.aura_voices import aura_voice_for, is_aura

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]{0,63})\s*\}\}")


def build_plan(
    config: AgentConfig,
    engines: Engines,
    *,
    call_id: str,
    call_sid: str,
    agent_key: str,
    custom_parameters: Mapping[str, str] | None = None,
    outbound_carrier: str | None = None,
) -> CallPlan:
    """The call loop's plan; ``outbound_carrier`` names the carrier of a call the platform
    placed (it decides who detects answering machines), None for an incoming call."""
    params = config.parameters
    models = config.models
    scripted = engines.llm.is_scripted
    languages = tuple(config.language.supported)
    return CallPlan(
        call_id=call_id,
        call_sid=call_sid,
        agent_key=agent_key,
        greeting=config.greeting,
        system_prompt=with_parameters(config.system_prompt, custom_parameters or {}),
        model="flow" if scripted else models.default,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        context_window=params.context_window,
        language=config.language.primary,
        voice=config.voice_options(),
        stt=config.stt_options(),
        end_of_turn_silence_ms=params.end_of_turn_silence_ms,
        end_of_turn_model=params.end_of_turn_model,
        interruption=InterruptionPolicy.from_phrases(
            params.min_voice_ms,
            config.speech.backchannel_phrases,
            config.speech.interruption_min_words,
        ),
        max_response_ms=params.max_response_time,
        speculative_answers=params.speculative_answers,
        filler_phrases=tuple(params.filler_phrases),
        max_call_duration_s=params.max_call_duration_s,
        router=None if scripted else ModelRouter(models.default, models.fast, models.complex),
        languages=languages,
        tools_enabled=config.automation.tools_enabled,
        uses_tools=config.automation.tools_enabled and not scripted,
        max_tool_calls=config.automation.max_tool_calls,
        detect_language=config.language.auto_detect and len(languages) > 1,
        voices=_voices(config, languages),
        voicemail=_voicemail(config, outbound_carrier),
    )


def _voicemail(config: AgentConfig, outbound_carrier: str | None) -> VoicemailPlan | None:
    """Machine detection on outbound calls only; Twilio detects when asked to, other
    carriers have no detection of their own, so this loop listens instead."""
    block = config.voicemail
    if outbound_carrier is None or block.detection == "off":
        return None
    by_carrier = block.detection == "carrier" and outbound_carrier == "twilio"
    return VoicemailPlan(
        detection="carrier" if by_carrier else "local",
        action=block.action,
        message=block.message,
        max_wait_for_beep_ms=block.max_wait_for_beep_s * 1000,
    )


def with_parameters(prompt: str, parameters: Mapping[str, str]) -> str:
    """The system prompt with each ``{{name}}`` filled from the call's custom parameters (a
    campaign contact's variables), and the parameters appended, so the model can use them (an
    account id a PBX put in ``X-Account-Id``)."""
    if not parameters:
        return prompt
    prompt = _PLACEHOLDER.sub(lambda m: parameters.get(m.group(1), m.group(0)), prompt)
    lines = "\n".join(f"- {name}: {value}" for name, value in sorted(parameters.items()))
    return f"{prompt}\n\nParameters the phone system passed with this call:\n{lines}"


def _voices(config: AgentConfig, languages: tuple[str, ...]) -> dict[str, VoiceOptions]:
    """A voice per supported language: the agent's own where configured (``voice.
    language_voices``); else, when the agent speaks with Aura (an Aura voice, or Deepgram chosen
    in its engines block), its voice if that speaks the
    language or Aura-2's voice of the language (``providers.tts.aura_voices``); else the agent's
    voice for its primary language and, for each other language, the language tag itself as the
    voice name, which the embedded engine reads as its voice of that language (espeak-ng:
    ``es-ES`` -> ``es``) rather than reading Spanish with an English voice."""
    voices: dict[str, VoiceOptions] = {}
    own = config.voice.language_voices
    primary = config.language.primary
    for language in languages:
        model = own.get(language)
        if model is None and (is_aura(config.voice.model) or config.engines.tts == "deepgram"):
            model = aura_voice_for(language, config.voice.model)
        if model is None:
            model = config.voice.model if language == primary else language
        voices[language] = VoiceOptions(model=model, language=language, speed=1.0)
    return voices
