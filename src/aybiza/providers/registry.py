"""Which engines a call runs: resolved from the agent's config and the process's credentials.

Engines are created once per process and shared by every call. An agent asks for engines
implicitly (an Aura voice means Deepgram TTS, a Claude model means Bedrock) or explicitly (its
``engines`` block); a cloud engine runs only when its credentials are configured and its adapter
is part of this build, otherwise the embedded engine runs. The reason is recorded on every call.
"""

from __future__ import annotations

import asyncio

from aybiza.agents.flow_spec import FlowSpec
from aybiza.agents.schema import AgentConfig
from aybiza.config import Settings
from aybiza.pipeline.plan import Engines
from aybiza.providers.base import LlmEngine, SttEngine, TtsEngine
from aybiza.providers.llm.flow import FlowEngine
from aybiza.providers.stt.pocketsphinx import PocketsphinxStt
from aybiza.providers.tts.espeak import EspeakTts

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

# Cloud adapters are added by the cloud-engines work; until then these names resolve to the
# embedded engines, and the call record says so.
_CLOUD_ADAPTERS: frozenset[str] = frozenset()


class EngineRegistry:
    """Owns the process's shared engine instances."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stt: PocketsphinxStt | None = None
        self._tts: EspeakTts | None = None
        self._flows: dict[str, FlowEngine] = {}

    @property
    def stt(self) -> SttEngine:
        if self._stt is None:
            self._stt = PocketsphinxStt(max_decoders=self._settings.stt_decoders)
        return self._stt

    @property
    def tts(self) -> TtsEngine:
        if self._tts is None:
            self._tts = EspeakTts()
        return self._tts

    def resolve(self, config: AgentConfig, agent_key: str) -> Engines:
        """The engines for a call to this agent version, with the reason for each choice."""
        has_key = self._settings.deepgram_api_key is not None
        reasons = [
            _embedded_reason("stt", "pocketsphinx", config.engines.stt, has_key, implied=True),
            _embedded_reason(
                "tts",
                "espeak",
                config.engines.tts,
                has_key,
                implied=config.voice.model.startswith("aura"),
            ),
        ]
        llm: LlmEngine
        if config.flow is not None:
            llm = self._flow_engine(agent_key, config.flow)
            reasons.append("llm=flow (the agent defines a flow; no cloud model adapter in use)")
        else:
            llm = self._flow_engine("(no-model)", NO_MODEL_FLOW)
            reasons.append(
                "llm=flow (no flow and no cloud model available: the agent apologises and ends)"
            )
        return Engines(stt=self.stt, tts=self.tts, llm=llm, reason="; ".join(reasons))

    def _flow_engine(self, key: str, flow: FlowSpec) -> FlowEngine:
        engine = self._flows.get(key)
        if engine is None:
            engine = self._flows[key] = FlowEngine(flow)
        return engine

    async def aclose(self) -> None:
        engines: list[TtsEngine | LlmEngine] = [*self._flows.values()]
        if self._tts is not None:
            engines.append(self._tts)
        await asyncio.gather(*(engine.aclose() for engine in engines), return_exceptions=True)
        if self._stt is not None:
            await self._stt.aclose()


def _embedded_reason(kind: str, embedded: str, choice: str, has_key: bool, implied: bool) -> str:
    """Why the embedded engine runs for ``kind`` (the cloud engine here is Deepgram)."""
    if choice == embedded:
        return f"{kind}={embedded} (chosen in the agent's engines block)"
    if choice == "auto" and not implied:
        return f"{kind}={embedded} (the agent's voice is not a Deepgram voice)"
    if not has_key:
        return f"{kind}={embedded} (Deepgram wanted, DEEPGRAM_API_KEY is not set)"
    if "deepgram" not in _CLOUD_ADAPTERS:
        return f"{kind}={embedded} (Deepgram wanted, its adapter is not in this build)"
    return f"{kind}={embedded}"
