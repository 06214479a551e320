"""Which engines a call runs: resolved from the agent's config and the process's credentials.

Engines are created once per process and shared by every call. An agent asks for engines
implicitly (an Aura voice means Deepgram TTS, a Claude model means Bedrock, or the Anthropic API
when only its key is set) or explicitly (its ``engines`` block). With ``auto`` a cloud engine
runs when its credentials are configured, otherwise the embedded one; an explicit choice whose
credentials are missing is refused when the agent is validated (``check``), and still falls back
to the embedded engine if the credentials disappear later. The reason is recorded on each call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aybiza.agents.errors import FieldError
from aybiza.agents.flow_spec import FlowSpec
from aybiza.agents.schema import AgentConfig
from aybiza.config import Settings
from aybiza.providers.base import LlmEngine, SttEngine, TtsEngine
from aybiza.providers.engines import Engines
from aybiza.providers.llm.flow import FlowEngine
from aybiza.providers.stt.pocketsphinx import PocketsphinxStt
from aybiza.providers.tts.aura_voices import voice_mapping
from aybiza.providers.tts.espeak import EspeakTts

if TYPE_CHECKING:
    from aybiza.providers.stt.deepgram import DeepgramStt

# Spoken by agents that have no flow when no cloud model can run: the caller hears why.
NO_MODEL_FLOW = FlowSpec.model_validate(
    {
        "start": "unavailable",
        "nodes": {
            "unavailable": {
                "type": "end",
                "text": "Sorry, this agent has no language model configured, so I cannot help "
                "right now. Please call again later. Goodbye.",
            }
        },
    }
)

_CREDENTIALS = {
    "deepgram": "DEEPGRAM_API_KEY",
    "bedrock": "AWS credentials (the AWS credential chain) and AWS_REGION",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "AYBIZA_OPENAI_BASE_URL",
}


@dataclass(frozen=True, slots=True)
class LlmChoice:
    engine: LlmEngine
    cloud: bool
    reason: str


class EngineRegistry:
    """Owns the process's shared engine instances."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._instances: dict[str, SttEngine | TtsEngine | LlmEngine] = {}
        self._flows: dict[str, FlowEngine] = {}

    # ------------------------------------------------------------------ availability

    def available(self, engine: str) -> bool:
        """Whether ``engine``'s credentials are configured in this process."""
        settings = self._settings
        if engine == "deepgram":
            return settings.deepgram_api_key is not None
        if engine == "bedrock":
            return settings.aws_credentials and settings.aws_region is not None
        if engine == "anthropic":
            return settings.anthropic_api_key is not None
        if engine == "openai":
            return settings.openai_base_url is not None
        return True

    def check(self, config: AgentConfig) -> list[FieldError]:
        """Engines the agent asks for explicitly whose credentials are missing here."""
        problems: list[FieldError] = []
        for kind, choice in (
            ("stt", config.engines.stt),
            ("tts", config.engines.tts),
            ("llm", config.engines.llm),
        ):
            if choice in _CREDENTIALS and not self.available(choice):
                problems.append(
                    FieldError(
                        f"engines.{kind}",
                        f"{choice} needs {_CREDENTIALS[choice]}, which this server does not "
                        "have; set it or choose 'auto' to use the embedded engine",
                        choice,
                    )
                )
        if config.engines.llm == "flow" and config.flow is None:
            problems.append(FieldError("engines.llm", "'flow' needs a flow block", "flow"))
        return problems

    # ------------------------------------------------------------------ resolution

    def resolve(self, config: AgentConfig, agent_key: str) -> Engines:
        """The engines for a call to this agent version, with the reason for each choice."""
        stt_cloud, stt_reason = self._pick(
            "stt", config.engines.stt, "pocketsphinx", implied=True, why="auto"
        )
        aura = config.voice.model.startswith("aura")
        tts_cloud, tts_reason = self._pick(
            "tts",
            config.engines.tts,
            "espeak",
            implied=aura,
            why=f"voice {config.voice.model} is {'an Aura' if aura else 'not a Deepgram'} voice",
        )
        llm = self._llm(config, agent_key)
        notes: dict[str, str] = {}
        stt: SttEngine
        if stt_cloud:
            deepgram = self._deepgram_stt()
            options = config.stt_options()
            sent = deepgram.listen_language(options)
            if sent != options.language:
                notes["stt_language"] = f"{options.language} -> {sent}"
            stt = deepgram
        else:
            stt = self._pocketsphinx()
        tts: TtsEngine = self._deepgram_tts() if tts_cloud else self._espeak()
        if tts_cloud:
            mapped = voice_mapping([config.voice.model, *config.voice.language_voices.values()])
            if mapped is not None:
                notes["voice_mapped"] = mapped
        return Engines(
            stt=stt,
            tts=tts,
            llm=llm.engine,
            reason="; ".join((stt_reason, tts_reason, llm.reason)),
            fallback_tts=self._espeak() if tts_cloud else None,
            fallback_stt=self._pocketsphinx() if stt_cloud else None,
            notes=notes,
        )

    def _pick(
        self, kind: str, choice: str, embedded: str, *, implied: bool, why: str
    ) -> tuple[bool, str]:
        """Deepgram or the embedded engine for ``kind``, and why."""
        if choice == embedded:
            return False, f"{kind}={embedded} (chosen in the agent's engines block)"
        if choice == "auto" and not implied:
            return False, f"{kind}={embedded} ({why})"
        if not self.available("deepgram"):
            return False, f"{kind}={embedded} (Deepgram wanted, DEEPGRAM_API_KEY is not set)"
        source = (
            "chosen in the agent's engines block" if choice != "auto" else "DEEPGRAM_API_KEY set"
        )
        return True, f"{kind}=deepgram ({source})"

    def _llm(self, config: AgentConfig, agent_key: str) -> LlmChoice:
        choice = config.engines.llm
        wanted: list[str]
        if choice in ("bedrock", "anthropic", "openai"):
            wanted = [choice]
        elif choice == "auto":
            wanted = _engines_for_model(config.models.default)
        else:
            wanted = []
        for name in wanted:
            if self.available(name) and config.system_prompt:
                source = (
                    "chosen in the agent's engines block"
                    if choice != "auto"
                    else (f"model {config.models.default}, {_CREDENTIALS[name]} configured")
                )
                return LlmChoice(self._cloud_llm(name), True, f"llm={name} ({source})")
        if config.flow is not None:
            missing = f"; {' / '.join(wanted)} not configured" if wanted else ""
            return LlmChoice(
                self._flow_engine(agent_key, config.flow, config.automation.tools_enabled),
                False,
                f"llm=flow (the agent defines a flow{missing})",
            )
        return LlmChoice(
            self._flow_engine("(no-model)", NO_MODEL_FLOW),
            False,
            "llm=flow (no flow and no cloud model configured: the agent apologises and ends)",
        )

    def model_engine(self, model: str) -> LlmEngine | None:
        """The configured cloud engine an agent naming ``model`` (``models.default``, engines
        ``auto``) would answer with, or None when none is configured. Evals play simulated
        callers and judge answers with it (``aybiza.evals``)."""
        for name in _engines_for_model(model):
            if self.available(name):
                return self._cloud_llm(name)
        return None

    def preload(self) -> list[str]:
        """Create now the cloud engines whose credentials are configured, rather than on the
        first call that needs one: loading an SDK takes tens of milliseconds that no caller
        should wait for, and what loads before the server is ready is frozen out of the garbage
        collector's way with the rest of start-up (``aybiza.collector``). Returns their names."""
        loaded: list[str] = []
        if self.available("deepgram"):
            self._deepgram_stt()
            self._deepgram_tts()
            loaded.append("deepgram")
        for name in ("bedrock", "anthropic", "openai"):
            if self.available(name):
                self._cloud_llm(name)
                loaded.append(name)
        return loaded

    async def warm(self) -> list[str]:
        """Do at start-up the per-process work a first call would otherwise do on the event
        loop, with every call waiting: load a pocketsphinx decoder (the embedded engine, and
        every Deepgram call's fallback; its load holds the GIL, 0.3 s to over a second), create
        Deepgram's REST client for greetings (its TLS context) and resolve Bedrock's endpoint and
        credentials (botocore's service model, endpoint rules, credential chain and TLS context:
        hundreds of milliseconds).
        Call after ``preload``. Returns what it warmed."""
        warmed: list[str] = []
        pocketsphinx = self._pocketsphinx()
        if isinstance(pocketsphinx, PocketsphinxStt):
            await pocketsphinx.prime()
            warmed.append("pocketsphinx")
        if "deepgram-tts" in self._instances:
            from aybiza.providers.tts.deepgram import DeepgramTts

            deepgram = self._instances["deepgram-tts"]
            if isinstance(deepgram, DeepgramTts):
                deepgram.prepare()
                warmed.append("deepgram")
        if "bedrock" in self._instances:
            from aybiza.providers.llm.bedrock import BedrockLlm

            bedrock = self._instances["bedrock"]
            if isinstance(bedrock, BedrockLlm):
                await bedrock.prepare()
                warmed.append("bedrock")
        return warmed

    # ------------------------------------------------------------------ instances

    def _pocketsphinx(self) -> SttEngine:
        instance = self._instances.get("pocketsphinx")
        if instance is None:
            instance = self._instances["pocketsphinx"] = PocketsphinxStt(
                max_decoders=self._settings.stt_decoders
            )
        return instance  # type: ignore[return-value]

    def _espeak(self) -> TtsEngine:
        instance = self._instances.get("espeak")
        if instance is None:
            instance = self._instances["espeak"] = EspeakTts()
        return instance  # type: ignore[return-value]

    def _deepgram_stt(self) -> DeepgramStt:
        settings = self._settings
        instance = self._instances.get("deepgram-stt")
        if instance is None:
            from aybiza.providers.stt.deepgram import DeepgramStt

            assert settings.deepgram_api_key is not None
            instance = self._instances["deepgram-stt"] = DeepgramStt(
                settings.deepgram_api_key,
                base_url=settings.deepgram_url or "wss://api.deepgram.com",
            )
        return instance  # type: ignore[return-value]

    def _deepgram_tts(self) -> TtsEngine:
        settings = self._settings
        instance = self._instances.get("deepgram-tts")
        if instance is None:
            from aybiza.providers.tts.deepgram import DeepgramTts

            assert settings.deepgram_api_key is not None
            instance = self._instances["deepgram-tts"] = DeepgramTts(
                settings.deepgram_api_key,
                base_url=settings.deepgram_tts_url
                or settings.deepgram_url
                or "https://api.deepgram.com",
            )
        return instance  # type: ignore[return-value]

    def _cloud_llm(self, name: str) -> LlmEngine:
        settings = self._settings
        instance = self._instances.get(name)
        if instance is None:
            # Cloud SDKs load only when an agent uses them: an embedded-only server stays small.
            engine: LlmEngine
            if name == "bedrock":
                from aybiza.providers.llm.bedrock import BedrockLlm

                assert settings.aws_region is not None
                engine = BedrockLlm(
                    region=settings.aws_region, endpoint_url=settings.bedrock_endpoint_url
                )
            elif name == "anthropic":
                from aybiza.providers.llm.anthropic_api import AnthropicLlm

                assert settings.anthropic_api_key is not None
                engine = AnthropicLlm(
                    api_key=settings.anthropic_api_key, base_url=settings.anthropic_base_url
                )
            else:
                from aybiza.providers.llm.openai_compat import OpenAICompatibleLlm

                assert settings.openai_base_url is not None
                engine = OpenAICompatibleLlm(
                    base_url=settings.openai_base_url, api_key=settings.openai_api_key
                )
            instance = self._instances[name] = engine
        return instance  # type: ignore[return-value]

    def _flow_engine(self, key: str, flow: FlowSpec, tools_enabled: bool = True) -> FlowEngine:
        engine = self._flows.get(key)
        if engine is None:
            engine = self._flows[key] = FlowEngine(flow, tools_enabled=tools_enabled)
        return engine

    async def aclose(self) -> None:
        closers = [
            instance.aclose() for instance in [*self._instances.values(), *self._flows.values()]
        ]
        await asyncio.gather(*closers, return_exceptions=True)


def _engines_for_model(model: str) -> list[str]:
    """The cloud engines that serve ``model``, in order of preference: Claude on Bedrock, then
    Anthropic's API; any other model on the OpenAI-compatible endpoint."""
    claude = "claude" in model or "anthropic" in model
    return ["bedrock", "anthropic"] if claude else ["openai"]
