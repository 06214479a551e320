"""Post-call analysis: summary, caller sentiment, success and the agent's own fields, extracted
from the transcript by the agent's cloud model when one is available (a JSON-only request),
else by the embedded extractor (``embedded``). Each result says which ``method`` produced it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import select

from aybiza.agents.errors import AgentConfigError
from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.automation.workflows import embedded
from aybiza.automation.workflows.sentiment import SENTIMENTS
from aybiza.providers.base import LlmEngine, LlmRequest, Message, TextDelta
from aybiza.providers.registry import EngineRegistry
from aybiza.store.automation_models import ToolCallRecord
from aybiza.store.calls import turns_and_lines
from aybiza.store.database import Database
from aybiza.store.models import AgentVersion, Call

log = structlog.get_logger(__name__)

SYSTEM = (
    "You analyse transcripts of phone calls between a caller and an AI phone agent. Answer "
    "with exactly one JSON object and nothing else: no prose, no code fences."
)
_MAX_TRANSCRIPT_CHARS = 60_000


class AnalysisError(Exception):
    """The analysis could not run now (the model failed); the step is retried."""


def agent_analysis_fields(config: Mapping[str, Any]) -> dict[str, str]:
    """The agent's ``analysis.fields`` (name -> description), read from its raw JSON so agents
    written before the block existed simply have none."""
    block = config.get("analysis")
    fields = block.get("fields") if isinstance(block, Mapping) else None
    if not isinstance(fields, Mapping):
        return {}
    return {str(name): str(text) for name, text in fields.items()}


class CallAnalyzer:
    """Runs analyses of stored calls; ``registry`` provides the agents' cloud models (None:
    always the embedded extractor)."""

    def __init__(self, database: Database, registry: EngineRegistry | None = None) -> None:
        self._database = database
        self._registry = registry

    async def analyze(
        self,
        call_id: str,
        *,
        fields: Mapping[str, str],
        standard: bool = True,
        instructions: str = "",
    ) -> dict[str, Any]:
        """``{"method", "summary", "sentiment", "success", "success_reason", "fields"}``
        (the standard keys only when ``standard``)."""
        async with self._database.session() as session:
            call = await session.get(Call, call_id)
            if call is None:
                raise AnalysisError(f"no call {call_id}")
            version = (
                await session.get(AgentVersion, call.agent_version_id)
                if call.agent_version_id
                else None
            )
            turns, lines = await turns_and_lines(session, call_id)
            tools = (
                await session.execute(
                    select(ToolCallRecord.tool_call_id, ToolCallRecord.name, ToolCallRecord.outcome)
                    .where(ToolCallRecord.call_id == call_id)
                    .order_by(ToolCallRecord.started_at)
                )
            ).all()
        tool_calls = [(row.tool_call_id, row.name, row.outcome) for row in tools]
        config = _agent_config(version)
        transcript = embedded.Transcript(
            lines=[(line.speaker, line.text) for line in lines],
            caller_turns=[turn.user_text for turn in turns if turn.user_text.strip()],
            ended_reason=call.ended_reason,
        )
        engine = self._engine(config, version)
        if engine is not None and config is not None:
            result = await self._with_model(
                engine, config, transcript, fields, instructions, tool_calls
            )
        else:
            result = await self._embedded(config, transcript, fields, call_id, tool_calls)
        if not standard:
            result = {key: result[key] for key in ("method", "fields")}
        return _redacted(result, config)

    def _engine(self, config: AgentConfig | None, version: AgentVersion | None) -> LlmEngine | None:
        if self._registry is None or config is None or version is None:
            return None
        engine = self._registry.resolve(config, f"{version.agent_id}@{version.version}").llm
        return None if engine.is_scripted else engine

    async def _embedded(
        self,
        config: AgentConfig | None,
        transcript: embedded.Transcript,
        fields: Mapping[str, str],
        call_id: str,
        tool_calls: Sequence[tuple[str, str, str]],
    ) -> dict[str, Any]:
        if config is not None and config.flow is not None:
            slots = await embedded.flow_slots(
                config.flow,
                transcript.caller_turns,
                call_id,
                {tool_call_id: outcome for tool_call_id, _name, outcome in tool_calls},
                tools_enabled=config.automation.tools_enabled,
            )
            transcript = embedded.Transcript(
                transcript.lines, transcript.caller_turns, transcript.ended_reason, slots
            )
        return {"method": embedded.METHOD, **embedded.analyze(transcript, fields)}

    async def _with_model(
        self,
        engine: LlmEngine,
        config: AgentConfig,
        transcript: embedded.Transcript,
        fields: Mapping[str, str],
        instructions: str,
        tool_calls: Sequence[tuple[str, str, str]],
    ) -> dict[str, Any]:
        model = config.models.default
        prompt = _prompt(transcript, fields, instructions, [row[1:] for row in tool_calls])
        request = LlmRequest(
            system=SYSTEM,
            messages=(Message(role="user", text=prompt),),
            model=model,
            temperature=0.0,
            max_tokens=1024,
            language=config.language.primary,
        )
        text: list[str] = []
        try:
            async for event in engine.open_session("post-call-analysis").respond(request):
                if isinstance(event, TextDelta):
                    text.append(event.text)
        except Exception as exc:
            raise AnalysisError(f"{engine.name} failed: {type(exc).__name__}: {exc}") from exc
        parsed = _parse(("".join(text)), fields)
        method = f"model:{engine.name}/{model}"
        if parsed is None:
            log.warning("automation.analysis_not_json", engine=engine.name)
            fallback = embedded.analyze(transcript, fields)
            return {"method": f"{embedded.METHOD} (the model's answer was not JSON)", **fallback}
        return {"method": method, **parsed}


def _redacted(result: dict[str, Any], config: AgentConfig | None) -> dict[str, Any]:
    """The analysis as stored and handed to later workflow steps: read from the redacted
    transcript already, and redacted again in case the model restored a value."""
    if config is None or not config.redaction.categories:
        return result
    redactor = config.redactor()
    return {
        key: value if key == "method" else redactor.redact_value(value)
        for key, value in result.items()
    }


def _agent_config(version: AgentVersion | None) -> AgentConfig | None:
    """The version's configuration; blocks this build's schema does not know yet (``analysis``,
    ``automation.tools``) are set aside rather than making the agent unreadable."""
    if version is None:
        return None
    try:
        return validate_agent_config(version.config)
    except AgentConfigError:
        pass
    trimmed = {key: value for key, value in version.config.items() if key != "analysis"}
    automation = trimmed.get("automation")
    if isinstance(automation, Mapping):
        trimmed["automation"] = {k: v for k, v in automation.items() if k != "tools"}
    try:
        return validate_agent_config(trimmed)
    except AgentConfigError:
        return None


def _prompt(
    transcript: embedded.Transcript,
    fields: Mapping[str, str],
    instructions: str,
    tool_calls: Sequence[tuple[str, str]] = (),
) -> str:
    lines = "\n".join(
        f"{'Caller' if speaker == 'caller' else 'Agent'}: {text}"
        for speaker, text in transcript.lines
    )[-_MAX_TRANSCRIPT_CHARS:]
    wanted = "\n".join(f'  - "{name}": {text}' for name, text in fields.items()) or "  (none)"
    extra = f"\nAlso: {instructions}\n" if instructions else ""
    tools = (
        "\nTools the agent ran, in order (name: outcome): "
        + ", ".join(f"{name}: {outcome}" for name, outcome in tool_calls)
        + ".\n"
        if tool_calls
        else ""
    )
    return (
        f"Transcript:\n{lines or '(empty)'}\n\nThe call ended: {transcript.ended_reason}.\n"
        f"{tools}{extra}\n"
        'Judge the whole call, not its last line. A polite closing such as "No, thank you" '
        'in answer to "Anything else?" is courtesy, not a negative answer. A call succeeded '
        "when the agent did what the caller called for; it failed when the agent said it could "
        "not, a tool it needed failed, the agent never understood the caller, or the caller "
        "gave up.\n\n"
        "Return a JSON object with these keys:\n"
        '- "summary": two or three sentences on what the caller wanted and what happened\n'
        '- "sentiment": the caller\'s overall sentiment over the whole call, "positive", '
        '"neutral" or "negative"\n'
        '- "success": true when the agent achieved what the caller called for, else false\n'
        '- "success_reason": one sentence explaining success\n'
        '- "fields": an object with exactly these keys, each the value stated in the call '
        "(a string) or null when it was not stated:\n"
        f"{wanted}\n"
    )


def _parse(text: str, fields: Mapping[str, str]) -> dict[str, Any] | None:
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match is None:
        return None
    try:
        value = json.loads(match.group(0))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    sentiment = str(value.get("sentiment", "neutral")).lower()
    success = value.get("success")
    got = value.get("fields") if isinstance(value.get("fields"), dict) else {}
    assert isinstance(got, dict)
    return {
        "summary": str(value.get("summary", ""))[:4000],
        "sentiment": sentiment if sentiment in SENTIMENTS else "neutral",
        "success": success if isinstance(success, bool) else None,
        "success_reason": str(value.get("success_reason", ""))[:1000] or None,
        "fields": {
            name: (None if got.get(name) is None else str(got.get(name))[:1000]) for name in fields
        },
    }
