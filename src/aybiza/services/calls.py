"""Call set-up: route an incoming call to its agent, record it, and build its call loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.analytics.recorder import StoreCallRecorder
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.session import CallSession
from aybiza.pipeline.transport import CallTransport
from aybiza.providers.registry import EngineRegistry
from aybiza.store import repository
from aybiza.store.database import Database
from aybiza.store.models import Agent, Call, utcnow
from aybiza.store.writer import StoreWriter

log = structlog.get_logger(__name__)


class CallSetupError(Exception):
    """A media stream cannot become a call; the message says why (sent as the close reason)."""


@dataclass(frozen=True, slots=True)
class RoutedCall:
    """An incoming call that has an agent: its record id and what to pass to the stream."""

    call_id: str
    agent: Agent


class CallService:
    def __init__(
        self,
        database: Database,
        writer: StoreWriter,
        registry: EngineRegistry,
        phrases: PhraseCache,
    ) -> None:
        self._database = database
        self._writer = writer
        self._registry = registry
        self._phrases = phrases
        self._configs: dict[str, AgentConfig] = {}

    async def incoming(self, form: Mapping[str, str]) -> RoutedCall | None:
        """Record the incoming call and find its agent; None when the number has no agent (the
        call is still recorded, with ended reason ``unknown-number``)."""
        call_sid = form.get("CallSid", "")
        async with self._database.session() as session, session.begin():
            agent = await repository.agent_for_number(session, form.get("To", ""))
            call = await repository.call_by_sid(session, call_sid)
            if call is None:
                # Twilio retries a webhook that timed out: the same CallSid gets one record.
                call = Call(
                    call_sid=call_sid,
                    from_number=form.get("From", ""),
                    to_number=form.get("To", ""),
                    direction=form.get("Direction", "inbound"),
                    status="ringing",
                )
                session.add(call)
            if agent is None:
                call.status = "completed"
                call.ended_reason = "unknown-number"
                call.ended_at = utcnow()
                return None
            call.agent_id = agent.id
            call.agent_version = agent.version
            call.tenant_id = agent.tenant_id
            await session.flush()
            return RoutedCall(call_id=call.id, agent=agent)

    async def open_session(
        self, *, call_sid: str, stream_sid: str, transport: CallTransport
    ) -> CallSession:
        """Build the call loop for a stream that just sent ``start``."""
        async with self._database.session() as session, session.begin():
            call = await repository.call_by_sid(session, call_sid)
            if call is None or call.agent_id is None:
                raise CallSetupError(
                    f"no call {call_sid}: calls must arrive through POST /twilio/voice first"
                )
            if call.ended_at is not None:
                raise CallSetupError(f"call {call_sid} has already ended")
            agent = await repository.get_agent(session, call.agent_id)
            if agent is None:
                raise CallSetupError(f"the agent of call {call_sid} no longer exists")
            config = self._config(agent)
            agent_key = f"{agent.id}@{agent.version}"
            engines = self._registry.resolve(config, agent_key)
            call.engines = engines.describe()
        recorder = StoreCallRecorder(self._writer, call_id=call.id, tenant_id=call.tenant_id)
        recorder.started(stream_sid)
        model = "flow" if engines.llm.name == "flow" else config.models.default
        plan = build_plan(
            config, call_id=call.id, call_sid=call_sid, agent_key=agent_key, model=model
        )
        log.info("call.started", call_sid=call_sid, agent=agent.name, engines=engines.reason)
        return CallSession(plan, engines, transport, recorder, self._phrases)

    def _config(self, agent: Agent) -> AgentConfig:
        key = f"{agent.id}@{agent.version}"
        config = self._configs.get(key)
        if config is None:
            config = self._configs[key] = validate_agent_config(agent.config)
        return config


def build_plan(
    config: AgentConfig, *, call_id: str, call_sid: str, agent_key: str, model: str
) -> CallPlan:
    """The call loop's settings from the agent's configuration."""
    params = config.parameters
    return CallPlan(
        call_id=call_id,
        call_sid=call_sid,
        agent_key=agent_key,
        greeting=config.greeting,
        system_prompt=config.system_prompt,
        model=model,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        context_window=params.context_window,
        language=config.language.primary,
        voice=config.voice_options(),
        stt=config.stt_options(),
        end_of_turn_silence_ms=params.end_of_turn_silence_ms,
        min_interruption_speech_ms=params.min_interruption_speech_ms,
        backchannels=tuple(config.speech.backchannel_phrases),
        max_response_ms=params.max_response_time,
        filler_phrases=tuple(params.filler_phrases),
        max_call_duration_s=params.max_call_duration_s,
    )
