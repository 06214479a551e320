"""One call's assembly, in one pass: the admitted call and its published agent version give a
typed ``CallPlan`` (engines chosen, with their capabilities), and the plan gives the
``CallSession`` with everything it runs with (tools included)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.compliance import HIPAA_ENGINE, compliance_problems, compliant_config
from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.analytics.recording import CallRecorder
from aybiza.automation.platform import Automation
from aybiza.pipeline.audio_tap import AudioTap
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.recognition_feed import DEFAULT_BATCHING, SttBatching
from aybiza.pipeline.session import CallSession
from aybiza.pipeline.transport import MediaConnection
from aybiza.providers.engines import Engines
from aybiza.providers.registry import EngineRegistry
from aybiza.services.call_plan import build_plan
from aybiza.services.number_config import VersionConfig, compliance_mode, version_config
from aybiza.store.database import Database
from aybiza.store.models import Call
from aybiza.telephony.carrier import OUTBOUND_API, MediaRefused

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
        stt_batching: SttBatching = DEFAULT_BATCHING,
    ) -> None:
        self._registry = registry
        self._stt_batching = stt_batching
        self._phrases = phrases
        self._automation = automation
        self._configs: dict[str, AgentConfig] = {}

    async def prepare(self, database: Database, session: AsyncSession, call: Call) -> PreparedCall:
        """Resolve the call's agent version, configuration and engines into its plan (the
        version and the tenant's mode come from the configuration cache; ``session`` is on the
        primary, for a version the cache's source has not seen yet). The tenant's compliance
        mode applies (``aybiza.agents.compliance``). Raises ``MediaRefused`` when the agent is
        gone, or cannot run under the tenant's mode."""
        assert call.agent_version_id is not None and call.tenant_id is not None
        version = await version_config(database, call.agent_version_id, session)
        if version is None:
            raise MediaRefused(f"the agent of call {call.call_sid} no longer exists", "agent-gone")
        mode = await compliance_mode(database, call.tenant_id)
        config = compliant_config(self._config(version), mode)
        agent_key = f"{version.agent_id}@{version.version}"
        problems = compliance_problems(config, mode)
        engines = self._registry.resolve(config, agent_key) if not problems else None
        if engines is None or (mode == "hipaa" and engines.llm.name != HIPAA_ENGINE):
            why = str(problems[0]) if problems else f"the conversation engine is not {HIPAA_ENGINE}"
            raise MediaRefused(f"call {call.call_sid} refused under hipaa: {why}", "compliance")
        plan = build_plan(
            config,
            engines,
            call_id=call.id,
            call_sid=call.call_sid,
            agent_key=agent_key,
            custom_parameters=call.custom_parameters,
            outbound_carrier=call.carrier if call.direction == OUTBOUND_API else None,
        )
        plan = replace(plan, mask_keyed_digits=mode == "pci", stt_batching=self._stt_batching)
        return PreparedCall(plan, engines, config, call.tenant_id, version.agent_name)

    async def build(
        self,
        prepared: PreparedCall,
        connection: MediaConnection,
        recorder: CallRecorder,
        tap: AudioTap | None = None,
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
        return CallSession(
            plan, prepared.engines, connection, recorder, self._phrases, kit, tap=tap
        )

    def _config(self, version: VersionConfig) -> AgentConfig:
        # Versions are immutable, so a validated configuration is cached for good.
        config = self._configs.get(version.id)
        if config is None:
            config = self._configs[version.id] = validate_agent_config(version.config)
        return config
