"""One call's assembly, in one pass: the admitted call and its published agent version give a
typed ``CallPlan`` (engines chosen, with their capabilities), and the plan gives the
``CallSession`` with everything it runs with (tools included)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.analytics.recording import CallRecorder
from aybiza.automation.platform import Automation
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.session import CallSession
from aybiza.pipeline.transport import MediaConnection
from aybiza.providers.engines import Engines
from aybiza.providers.registry import EngineRegistry
from aybiza.services.call_plan import build_plan
from aybiza.store.models import Agent, AgentVersion, Call
from aybiza.telephony.carrier import MediaRefused

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """What the database said about a call about to start, resolved into its plan."""

    plan: CallPlan
    engines: Engines
    config: AgentConfig
    tenant_id: str
    agent_name: str


class CallAssembly:
    """Turns an admitted call into its running ``CallSession``."""

    def __init__(
        self,
        registry: EngineRegistry,
        phrases: PhraseCache,
        automation: Automation | None = None,
    ) -> None:
        self._registry = registry
        self._phrases = phrases
        self._automation = automation
        self._configs: dict[str, AgentConfig] = {}

    async def prepare(self, session: AsyncSession, call: Call) -> PreparedCall:
        """Resolve the call's agent version, configuration and engines into its plan.
        Raises ``MediaRefused`` when the agent is gone."""
        assert call.agent_version_id is not None and call.tenant_id is not None
        version = await session.get(AgentVersion, call.agent_version_id)
        agent = await session.get(Agent, version.agent_id) if version else None
        if version is None or agent is None:
            raise MediaRefused(f"the agent of call {call.call_sid} no longer exists", "agent-gone")
        config = self._config(version)
        agent_key = f"{version.agent_id}@{version.version}"
        engines = self._registry.resolve(config, agent_key)
        plan = build_plan(
            config, engines, call_id=call.id, call_sid=call.call_sid, agent_key=agent_key
        )
        return PreparedCall(plan, engines, config, call.tenant_id, agent.name)

    async def build(
        self, prepared: PreparedCall, connection: MediaConnection, recorder: CallRecorder
    ) -> CallSession:
        """The call loop, with the tenant's tools loaded first and bound to its controls."""
        plan = prepared.plan
        log.info(
            "call.started",
            call_sid=plan.call_sid,
            agent=prepared.agent_name,
            engines=prepared.engines.reason,
        )
        kit = (
            await self._automation.tool_kit(
                tenant_id=prepared.tenant_id, agent_config=prepared.config, call_id=plan.call_id
            )
            if self._automation is not None and plan.tools_enabled
            else None
        )
        return CallSession(plan, prepared.engines, connection, recorder, self._phrases, kit)

    def _config(self, version: AgentVersion) -> AgentConfig:
        # Versions are immutable, so a validated configuration is cached for good.
        config = self._configs.get(version.id)
        if config is None:
            config = self._configs[version.id] = validate_agent_config(version.config)
        return config
