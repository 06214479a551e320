"""Call set-up: route an incoming call to its agent, record it, and build its call loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.analytics.recorder import StoreCallRecorder
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.session import CallSession
from aybiza.pipeline.transport import CallTransport
from aybiza.providers.registry import EngineRegistry
from aybiza.services.call_plan import build_plan
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
        plan = build_plan(config, engines, call_id=call.id, call_sid=call_sid, agent_key=agent_key)
        log.info("call.started", call_sid=call_sid, agent=agent.name, engines=engines.reason)
        return CallSession(plan, engines, transport, recorder, self._phrases)

    def _config(self, agent: Agent) -> AgentConfig:
        key = f"{agent.id}@{agent.version}"
        config = self._configs.get(key)
        if config is None:
            config = self._configs[key] = validate_agent_config(agent.config)
        return config
