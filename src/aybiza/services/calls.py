"""Call set-up: route an incoming call to its agent, record it, and build its call loop."""

from __future__ import annotations

import random
from collections.abc import Mapping

import structlog

from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.analytics.cost import PriceTable
from aybiza.analytics.events import CallEvents
from aybiza.analytics.recorder import StoreCallRecorder
from aybiza.automation.platform import Automation
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.session import CallSession
from aybiza.pipeline.transport import CallTransport
from aybiza.providers.registry import EngineRegistry
from aybiza.services.admission import Admission, Refused, admit
from aybiza.services.call_plan import build_plan
from aybiza.services.live_calls import LiveCalls
from aybiza.store.calls import call_by_sid
from aybiza.store.database import Database
from aybiza.store.models import Agent, AgentVersion
from aybiza.store.writer import StoreWriter

log = structlog.get_logger(__name__)


class CallSetupError(Exception):
    """A media stream cannot become a call; the message says why (sent as the close reason)."""


class CallService:
    """Admits incoming calls and builds their call loops; ``live`` tracks the loops running
    in this process, ``events`` queues the tenants' webhook events."""

    def __init__(
        self,
        database: Database,
        writer: StoreWriter,
        registry: EngineRegistry,
        phrases: PhraseCache,
        *,
        live: LiveCalls | None = None,
        events: CallEvents | None = None,
        rng: random.Random | None = None,
        operator_tenant: str = "demo",
        automation: Automation | None = None,
    ) -> None:
        self._automation = automation
        self._database = database
        self._writer = writer
        self._registry = registry
        self._phrases = phrases
        self.live = live if live is not None else LiveCalls()
        self._events = events if events is not None else CallEvents(PriceTable())
        # Weighted A/B routing; tests seed it.
        self._rng = rng if rng is not None else random.Random()
        self._operator_tenant = operator_tenant
        self._configs: dict[str, AgentConfig] = {}

    async def incoming(self, form: Mapping[str, str], call_id: str | None = None) -> Admission:
        """Record the incoming call (or the answered outbound call ``call_id``) and decide who
        answers it: ``Routed`` to an agent version, or ``Refused`` (unknown number, tenant at
        its concurrency limit), still recorded.

        Raises ``Invalid`` for form fields Twilio would never send."""
        async with self._database.writing() as session:
            admission = await admit(
                session, form, self._rng, operator_tenant=self._operator_tenant, call_id=call_id
            )
            refused_for_tenant = isinstance(admission, Refused) and admission.tenant_id is not None
            if refused_for_tenant:
                await self._events.call_ended(session, admission.call_id)
        if refused_for_tenant:
            self._events.wake()
        return admission

    async def open_session(
        self, *, call_sid: str, stream_sid: str, transport: CallTransport
    ) -> CallSession:
        """Build the call loop for a stream that just sent ``start``."""
        async with self._database.writing() as session:
            call = await call_by_sid(session, call_sid)
            if call is None or call.agent_version_id is None or call.tenant_id is None:
                raise CallSetupError(
                    f"no call {call_sid}: calls must arrive through POST /twilio/voice first"
                )
            if call.ended_at is not None:
                raise CallSetupError(f"call {call_sid} has already ended")
            version = await session.get(AgentVersion, call.agent_version_id)
            agent = await session.get(Agent, version.agent_id) if version else None
            if version is None or agent is None:
                raise CallSetupError(f"the agent of call {call_sid} no longer exists")
            config = self._config(version)
            agent_key = f"{version.agent_id}@{version.version}"
            engines = self._registry.resolve(config, agent_key)
            call.engines = engines.describe()
        recorder = StoreCallRecorder(
            self._writer,
            call_id=call.id,
            tenant_id=call.tenant_id,
            call_sid=call_sid,
            events=self._events,
        )
        recorder.started(stream_sid)
        plan = build_plan(config, engines, call_id=call.id, call_sid=call_sid, agent_key=agent_key)
        log.info("call.started", call_sid=call_sid, agent=agent.name, engines=engines.reason)
        call_loop = CallSession(plan, engines, transport, recorder, self._phrases)
        if self._automation is not None and plan.tools_enabled:
            runner = await self._automation.tool_runner(
                tenant_id=call.tenant_id,
                agent_config=config,
                controls=call_loop.controls,
                transcript=lambda: call_loop.conversation.messages,
            )
            call_loop.attach_tools(runner)
        self.live.add(call.id, call_loop)
        return call_loop

    def _config(self, version: AgentVersion) -> AgentConfig:
        # Versions are immutable, so a validated configuration is cached for good.
        config = self._configs.get(version.id)
        if config is None:
            config = self._configs[version.id] = validate_agent_config(version.config)
        return config
