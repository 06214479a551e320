"""The agent configuration: the JSON an operator writes to define a phone agent.

The shape follows the seed's "Enhanced Agent Configuration Example"; the ``speech``,
``engines`` and ``flow`` blocks and the extra ``parameters`` are what the platform needs to run
it. Every block is optional except ``name`` and a ``system_prompt`` or a ``flow``. Unknown keys
are rejected at every level so a typo is reported with its path instead of being ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aybiza.agents import defaults
from aybiza.agents.errors import AgentConfigError, FieldError, field_errors, located_error
from aybiza.agents.flow_spec import NODE_TYPES, FlowSpec
from aybiza.agents.speech import SttOptions, VoiceOptions
from aybiza.agents.voicemail import VoicemailConfig
from aybiza.security.pii import Category, RedactionMode, Redactor, phone_region

# semver.org's recommended expression.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
# BCP 47 as used by telephony speech engines: language, optional script, optional region.
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-(?:[A-Z]{2}|\d{3}))?$")


def _semver(value: str) -> str:
    if not _SEMVER.match(value):
        raise ValueError("expected a semantic version like '2.1.0'")
    return value


def _language_tag(value: str) -> str:
    if not _LANGUAGE_TAG.match(value):
        raise ValueError("expected a BCP 47 language tag like 'en-US' or 'es-ES'")
    return value


SemVer = Annotated[str, AfterValidator(_semver)]
LanguageTag = Annotated[str, AfterValidator(_language_tag)]
NonEmpty = Annotated[str, Field(min_length=1, pattern=r"\S")]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class VoiceConfig(_Block):
    """How the agent sounds. ``model`` is the TTS engine's voice name."""

    model: NonEmpty = Field(default="aura-2-thalia-en", description="TTS voice name.")
    style: str = Field(default="neutral", pattern=r"^[a-z][a-z0-9_]*$", description="Style tag.")
    natural_speech: bool = Field(default=True, description="Allow fillers and natural prosody.")
    emotion_control: Literal["none", "subtle", "moderate", "expressive"] = "moderate"
    language_voices: dict[str, NonEmpty] = Field(
        default_factory=dict,
        description="Voice per language (BCP 47 tag -> voice name), used when the agent "
        'switches to the caller\'s language, e.g. {"es-ES": "aura-2-celeste-es"}.',
    )


class LanguageConfig(_Block):
    """Languages the agent speaks; ``supported`` defaults to just ``primary``."""

    primary: LanguageTag = "en-US"
    auto_detect: bool = Field(default=False, description="Follow the caller's language.")
    supported: list[LanguageTag] = Field(
        default_factory=lambda data: [data.get("primary", "en-US")],
        description="Languages the agent may switch to; must include primary.",
    )

    @field_validator("supported")
    @classmethod
    def _includes_primary(cls, supported: list[str], info: ValidationInfo) -> list[str]:
        primary = info.data.get("primary")
        if primary is not None and primary not in supported:
            raise ValueError(f"must include the primary language {primary!r}")
        if len(set(supported)) != len(supported):
            raise ValueError("lists a language more than once")
        return supported


class ModelsConfig(_Block):
    """Cloud model ids: ``default`` for most turns, ``fast`` for short ones, ``complex`` for
    reasoning-heavy ones. Ignored by the flow engine."""

    default: NonEmpty = "claude-3-5-sonnet-v2"
    fast: NonEmpty = "claude-3-5-haiku"
    complex: NonEmpty = "claude-3-7-sonnet"


class AutomationConfig(_Block):
    """Tool use by the model."""

    tools_enabled: bool = Field(default=True, description="Offer tools to the model.")
    max_tool_calls: int = Field(
        default=defaults.MAX_TOOL_CALLS,
        ge=0,
        le=50,
        description="Tool calls per caller turn; at the cap the model answers without tools.",
    )
    async_workflows: bool = Field(default=False, description="Run workflows after the call.")
    tools: list[NonEmpty] = Field(
        default_factory=list,
        description="Names of the tenant's tools (or built-ins: send_sms, send_dtmf, "
        "collect_digits) offered to the model; end_call and transfer_call always are.",
    )


class ParametersConfig(_Block):
    """Timing and generation knobs; each name or description carries its unit."""

    max_response_time: int = Field(
        default=defaults.MAX_RESPONSE_MS,
        gt=0,
        le=60_000,
        description="ms from the end of the caller's turn to the agent's first audio; past it "
        "the pipeline may speak a filler phrase.",
    )
    interruption_threshold: float = Field(
        default=defaults.INTERRUPTION_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="0..1, how hard the caller must speak to interrupt the agent: barge-in "
        "needs at least 150 + 500 x threshold ms of caller speech (0.7 -> 500 ms).",
    )
    context_window: int = Field(
        default=defaults.CONTEXT_WINDOW_TOKENS, gt=0, description="Tokens of history kept."
    )
    temperature: float = Field(
        default=defaults.TEMPERATURE, ge=0.0, le=1.0, description="Model sampling."
    )
    max_call_duration_s: int = Field(
        default=defaults.MAX_CALL_DURATION_S, gt=0, description="Seconds before hang-up."
    )
    end_of_turn_silence_ms: int = Field(
        default=defaults.END_OF_TURN_SILENCE_MS,
        ge=100,
        le=5000,
        description="VAD silence (ms) that ends the caller's turn.",
    )
    speculative_answers: bool = Field(
        default=defaults.SPECULATIVE_ANSWERS,
        description="Start the model's answer, unplayed, on a transcript that reads as "
        "finished before the caller's turn has ended; discarded if the caller goes on "
        "(its tokens are counted as speculative in the call's cost).",
    )
    end_of_turn_model: bool = Field(
        default=defaults.END_OF_TURN_MODEL,
        description="Judge the caller's voice with the end-of-turn model too: a turn whose "
        "words read as finished still waits while the caller sounds unfinished.",
    )
    filler_phrases: list[NonEmpty] = Field(
        default_factory=lambda: list(defaults.FILLER_PHRASES),
        description="Spoken while a slow answer or tool call is pending.",
    )
    max_tokens: int = Field(
        default=defaults.MAX_TOKENS, gt=0, le=8192, description="Tokens per answer."
    )

    @property
    def min_voice_ms(self) -> int:
        """Voiced caller speech (ms) needed before the agent stops talking."""
        return defaults.min_voice_ms(self.interruption_threshold)


class PhoneIntegrationConfig(_Block):
    """How calls reach the agent: ``managed`` numbers, a customer ``sip_trunk``, or the
    customer's own ``twilio`` account (the default: the platform speaks Twilio Media Streams)."""

    type: Literal["managed", "sip_trunk", "twilio"] = "twilio"
    region: NonEmpty = "us-east-1"
    fallback_region: NonEmpty | None = None

    @model_validator(mode="after")
    def _distinct_regions(self) -> PhoneIntegrationConfig:
        if self.fallback_region is not None and self.fallback_region == self.region:
            problem = FieldError("fallback_region", "must differ from region", self.region)
            raise located_error([problem])
        return self


def _default_backchannels() -> list[str]:
    return list(defaults.BACKCHANNEL_PHRASES)


class SpeechConfig(_Block):
    """Hints for speech recognition and turn-taking."""

    expected_phrases: list[NonEmpty] = Field(
        default_factory=list, description="Phrases recognisers may constrain recognition to."
    )
    keyterms: list[NonEmpty] = Field(default_factory=list, description="Words to boost.")
    endpointing_ms: int = Field(
        default=defaults.ENDPOINTING_MS,
        ge=10,
        le=5000,
        description="Silence (ms) the recogniser waits to finalise.",
    )
    interruption_min_words: int = Field(
        default=defaults.MIN_WORDS,
        ge=1,
        le=20,
        description="Recognised words (not backchannel) needed before the agent stops talking.",
    )
    backchannel_phrases: list[NonEmpty] = Field(
        default_factory=_default_backchannels,
        description="Caller words that never interrupt the agent (case-insensitive).",
    )


class AnalysisConfig(_Block):
    """What the post-call analysis extracts from the transcript besides summary, sentiment and
    success: ``fields`` maps a field name to what it means (``{"appointment_time": "..."}``)."""

    fields: dict[str, NonEmpty] = Field(default_factory=dict)


class RedactionConfig(_Block):
    """Personal data kept out of everything stored or sent about a call (transcripts, turns,
    analysis, tool-call records, webhooks, workflow payloads, logs); the model still hears the
    caller as they spoke. Off until ``categories`` names some (docs/security.md)."""

    categories: list[Category] = Field(
        default_factory=list,
        description="What to redact: credit_card, card_expiry, cvv, ssn, phone_number, email, "
        "date_of_birth, bank_account, iban, address, pin, password.",
    )
    mode: RedactionMode = Field(
        default=defaults.REDACTION_MODE,
        description="mask: keep the shape (#### ****); replace_with_category: [CREDIT_CARD].",
    )
    stt: bool = Field(
        default=defaults.REDACTION_STT,
        description="Also ask the speech recogniser to redact what it can itself (Deepgram "
        "redact=pci for card number, expiry and CVV, redact=ssn); the model then hears the "
        "recogniser's placeholder for those.",
    )

    @field_validator("categories")
    @classmethod
    def _distinct(cls, categories: list[Category]) -> list[Category]:
        if len(set(categories)) != len(categories):
            raise ValueError("lists a category more than once")
        return categories

    def redactor(self, language: str = "en-US") -> Redactor:
        """The redactor of these settings; national phone numbers of ``language``'s country."""
        return Redactor(self.categories, self.mode, phone_region(language))


class EnginesConfig(_Block):
    """Per-agent engine override; ``auto`` lets the platform choose (a cloud engine when its
    credentials are configured, else the embedded one; for ``llm``, ``flow`` when the agent has
    a flow and no cloud model is available)."""

    stt: Literal["auto", "pocketsphinx", "deepgram"] = "auto"
    tts: Literal["auto", "espeak", "deepgram"] = "auto"
    llm: Literal["auto", "flow", "bedrock", "anthropic", "openai"] = "auto"


class RecordingConfig(_Block):
    """Call recording: a stereo WAV of each call (left the caller, right what the caller heard
    of the agent), fetched with ``GET /v1/calls/{id}/recording`` (docs/recordings.md)."""

    enabled: bool = Field(default=False, description="Record this agent's calls.")


class AgentConfig(_Block):
    """A complete agent. Needs ``name`` and a ``system_prompt`` or a ``flow`` (or both: the
    prompt drives cloud models, the flow drives the embedded flow engine)."""

    name: NonEmpty = Field(max_length=200)
    version: SemVer = "1.0.0"
    system_prompt: str = ""
    voice: VoiceConfig = VoiceConfig()
    language: LanguageConfig = LanguageConfig()
    greeting: str = Field(default="", description="Spoken on answer; empty: wait for caller.")
    models: ModelsConfig = ModelsConfig()
    automation: AutomationConfig = AutomationConfig()
    parameters: ParametersConfig = ParametersConfig()
    phone_integration: PhoneIntegrationConfig = PhoneIntegrationConfig()
    speech: SpeechConfig = SpeechConfig()
    engines: EnginesConfig = EnginesConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    redaction: RedactionConfig = RedactionConfig()
    voicemail: VoicemailConfig = VoicemailConfig()
    recording: RecordingConfig = RecordingConfig()
    flow: FlowSpec | None = None

    @model_validator(mode="after")
    def _has_behaviour(self) -> AgentConfig:
        if not self.system_prompt and self.flow is None:
            message = "an agent needs a non-empty system_prompt or a flow; neither was given"
            raise located_error([FieldError("system_prompt", message, None)])
        return self

    def stt_options(self) -> SttOptions:
        """Recognition options for a call to this agent."""
        return SttOptions(
            language=self.language.primary,
            expected_phrases=tuple(self.speech.expected_phrases),
            keyterms=tuple(self.speech.keyterms),
            endpointing_ms=self.speech.endpointing_ms,
            languages=tuple(self.language.supported),
            detect_language=self.language.auto_detect and len(self.language.supported) > 1,
            redact=tuple(self.redaction.categories) if self.redaction.stt else (),
        )

    def redactor(self) -> Redactor:
        """What this agent's calls redact from everything stored and sent."""
        return self.redaction.redactor(self.language.primary)

    def voice_options(self) -> VoiceOptions:
        """Synthesis options for this agent's voice."""
        return VoiceOptions(model=self.voice.model, language=self.language.primary)


def validate_agent_config(data: object) -> AgentConfig:
    """Validate an agent: a parsed JSON object (dict) or JSON text (str/bytes).

    Raises ``AgentConfigError`` listing every problem with its dotted path.
    """
    try:
        if isinstance(data, str | bytes | bytearray):
            return AgentConfig.model_validate_json(data)
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise AgentConfigError(field_errors(exc, {"nodes": NODE_TYPES})) from exc
