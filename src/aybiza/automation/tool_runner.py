"""The ``ToolRunner`` of one call: the agent's tools (tenant-defined and built-in), arguments
checked against each tool's schema, preconditions, HTTP tools, and a record of every call.

The lead's call loop builds one per call with ``build_tool_runner`` and calls
``check_precondition`` before it ends or transfers a call.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from aybiza.agents.flow_spec import MISSING_TOOL_CODE, ToolNode
from aybiza.agents.schema import AgentConfig
from aybiza.automation.arguments import ArgumentsValidator
from aybiza.automation.builtins import (
    BUILTIN_POLICIES,
    BUILTIN_SPECS,
    LiveCall,
    ToolFailure,
    run_builtin,
)
from aybiza.automation.http_tool import ToolOutcome, run_http_tool, time_budget_s
from aybiza.automation.messaging import Messaging, SmsSender
from aybiza.automation.preconditions import TranscriptEntry, violation
from aybiza.automation.records import ToolCallLog, ToolEvents
from aybiza.automation.redaction import redact
from aybiza.automation.tool_store import LoadedTool, ToolService
from aybiza.config import Settings
from aybiza.conversation.tools import CALL_ENDING, TRANSFER_CALL, CallControls, ToolPolicy
from aybiza.outbound.connector import Network
from aybiza.outbound.guard import Guard
from aybiza.outbound.sender import Sender
from aybiza.providers.base import ToolCall, ToolResult, ToolSpec
from aybiza.security.pii import NO_REDACTION, Redactor
from aybiza.security.secretbox import SecretBox
from aybiza.store.automation_models import ToolCallRecord
from aybiza.store.database import Database
from aybiza.store.models import Call, PhoneNumber, new_id, utcnow
from aybiza.store.writer import StoreWriter

log = structlog.get_logger(__name__)

TranscriptSource = Callable[[], Sequence[TranscriptEntry]]
_TRANSFER_TARGET = re.compile(r"^(\+[1-9][0-9]{6,14}|sips?:[^\s\x00-\x1f]{3,195})$")


def attached_tool_names(config: AgentConfig) -> list[str]:
    """The tools an agent uses: its ``automation.tools`` list plus every tool its flow's tool
    nodes call, in that order, without repeats. None when tools are switched off."""
    if not config.automation.tools_enabled:
        return []
    names: list[str] = [str(name) for name in getattr(config.automation, "tools", None) or []]
    if config.flow is not None:
        names.extend(node.tool for node in config.flow.nodes.values() if isinstance(node, ToolNode))
    return list(dict.fromkeys(names))


def builtin_tool(name: str) -> LoadedTool:
    """A built-in with its default description and options."""
    spec = BUILTIN_SPECS[name]
    return LoadedTool(name=name, description=spec.description, kind=name, parameters={})


class AgentToolRunner:
    """Runs one call's tool calls (implements ``aybiza.conversation.tools.ToolRunner``)."""

    def __init__(
        self,
        *,
        tenant_id: str,
        call: LiveCall,
        tools: dict[str, LoadedTool],
        log_: ToolCallLog,
        sender: Sender,
        transcript: TranscriptSource | None = None,
        owns_sender: bool = False,
        redactor: Redactor = NO_REDACTION,
    ) -> None:
        self._tenant_id = tenant_id
        self._redactor = redactor
        self._call = call
        self._tools = tools
        self._log = log_
        self._sender = sender
        self._owns_sender = owns_sender
        self._transcript = transcript
        self._validators = {
            name: ArgumentsValidator(self._schema(tool)) for name, tool in tools.items()
        }

    @property
    def tools(self) -> dict[str, LoadedTool]:
        """The tools this call may use, by name (call-ending ones for their preconditions)."""
        return dict(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools offered to the model (``end_call``/``transfer_call`` are offered by the
        call loop itself)."""
        return tuple(
            ToolSpec(tool.name, tool.description, self._schema(tool))
            for tool in self._tools.values()
            if tool.kind not in CALL_ENDING
        )

    def policy(self, name: str) -> ToolPolicy:
        """Speech while running, barge-in behaviour and the time limit of the named tool."""
        tool = self._tools.get(name)
        if tool is None:
            return ToolPolicy()
        options = tool.options
        builtin = BUILTIN_POLICIES.get(tool.kind)
        return ToolPolicy(
            speak_during_execution=options.speak_during_execution,
            finish_on_barge_in=options.finish_on_barge_in
            or (builtin is not None and builtin.finish_on_barge_in),
            timeout_s=builtin.timeout_s if builtin is not None else time_budget_s(tool),
        )

    def check_precondition(
        self, call: ToolCall, transcript: Sequence[TranscriptEntry]
    ) -> str | None:
        """Why the call loop must not act on ``end_call``/``transfer_call`` now (send it back to
        the model as the tool's error result), or None to go ahead. ``transcript``: the
        conversation's messages, or (speaker, text) pairs with speaker ``caller``/``agent``."""
        if call.name == TRANSFER_CALL:
            target = str(call.arguments.get("to", ""))
            if not _TRANSFER_TARGET.match(target):
                return (
                    "not transferred: to: expected an E.164 number like +15551234567 or a "
                    f"sip: URI, got {target!r}"
                )
        tool = self._tools.get(call.name)
        return None if tool is None else violation(tool.options.precondition, call.name, transcript)

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one tool call and record it; failures are error results, only cancellation (a
        barge-in or the call loop's timeout) propagates, and is recorded too."""
        started_at, started = utcnow(), time.monotonic()
        try:
            outcome = await self._execute(call)
        except asyncio.CancelledError:
            cancelled = ToolOutcome({"error": "cancelled before it finished"}, True, "cancelled")
            self._record(call, cancelled, started_at, started)
            raise
        except Exception as exc:  # a bug must not end the call; the model hears it failed
            log.exception("automation.tool_failed", tool=call.name)
            message = f"{call.name} failed unexpectedly: {type(exc).__name__}"
            outcome = ToolOutcome({"error": message}, True, "error")
        self._record(call, outcome, started_at, started)
        return ToolResult(call.id, outcome.content, outcome.is_error)

    async def _execute(self, call: ToolCall) -> ToolOutcome:
        tool = self._tools.get(call.name)
        if tool is None or tool.kind in CALL_ENDING:
            offered = ", ".join(spec.name for spec in self.specs()) or "none"
            message = f"unknown tool {call.name!r}; the tools you can use are: {offered}"
            # The code lets a flow's tool node tell a missing tool from one that failed.
            return ToolOutcome({"error": message, "code": MISSING_TOOL_CODE}, True, "unknown_tool")
        problem = self._validators[call.name].problem(call.arguments)
        if problem is not None:
            message = f"invalid arguments, nothing was done: {problem}"
            return ToolOutcome({"error": message}, True, "invalid_arguments")
        transcript = self._transcript() if self._transcript is not None else ()
        veto = violation(tool.options.precondition, call.name, transcript)
        if veto is not None:
            return ToolOutcome({"error": veto}, True, "precondition_failed")
        if tool.kind == "http":
            return await run_http_tool(
                tool,
                call.arguments,
                sender=self._sender,
                call_id=self._call.controls.call_id,
                tool_call_id=call.id,
            )
        try:
            content = await run_builtin(tool.kind, call.arguments, self._call)
        except ToolFailure as exc:
            return ToolOutcome({"error": str(exc)}, True, "error")
        return ToolOutcome(content, False, "ok")

    def _record(
        self, call: ToolCall, outcome: ToolOutcome, started_at: Any, started: float
    ) -> None:
        tool = self._tools.get(call.name)
        self._log.submit(
            ToolCallRecord(
                id=new_id(),
                tenant_id=self._tenant_id,
                call_id=self._call.controls.call_id,
                tool_call_id=call.id[:200],
                name=call.name[:64],
                kind=tool.kind if tool is not None else "unknown",
                # Secrets under sensitive keys, then the agent's PII categories anywhere: the
                # tool got what the caller said, the record keeps none of it.
                arguments=self._redactor.redact_value(redact(call.arguments)),
                result=self._redactor.redact_value(redact(outcome.content)),
                outcome=outcome.outcome,
                attempts=outcome.attempts,
                started_at=started_at,
                finished_at=utcnow(),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
        )

    @staticmethod
    def _schema(tool: LoadedTool) -> dict[str, Any]:
        spec = BUILTIN_SPECS.get(tool.kind)
        return dict(spec.input_schema) if spec is not None else tool.parameters

    async def flush(self) -> None:
        """Wait until every tool call so far is stored."""
        await self._log.flush()

    async def aclose(self) -> None:
        """The call is over: store what is pending and close the sender if owned."""
        await self.flush()
        if self._owns_sender:
            await self._sender.aclose()


@dataclass(frozen=True, slots=True)
class ToolKit:
    """A call's tools, loaded before its loop starts; ``bind`` gives the runner once the
    loop's controls exist (``aybiza.conversation.tools.ToolKit``)."""

    tenant_id: str
    tools: dict[str, LoadedTool]
    caller_number: str
    platform_number: str
    sms: SmsSender | None
    log_: ToolCallLog
    sender: Sender
    owns_sender: bool
    redactor: Redactor = NO_REDACTION

    def bind(
        self, controls: CallControls, transcript: TranscriptSource | None = None
    ) -> AgentToolRunner:
        live = LiveCall(
            controls=controls,
            caller_number=self.caller_number,
            platform_number=self.platform_number,
            sms=self.sms,
        )
        return AgentToolRunner(
            tenant_id=self.tenant_id,
            call=live,
            tools=self.tools,
            log_=self.log_,
            sender=self.sender,
            transcript=transcript,
            owns_sender=self.owns_sender,
            redactor=self.redactor,
        )


async def load_tool_kit(
    *,
    tenant_id: str,
    agent_config: AgentConfig,
    call_id: str,
    database: Database,
    box: SecretBox,
    settings: Settings | None = None,
    messaging: Messaging | None = None,
    writer: StoreWriter | None = None,
    events: ToolEvents | None = None,
    sender: Sender | None = None,
    network: Network | None = None,
    tool_names: Sequence[str] | None = None,
) -> ToolKit:
    """The tools of one call to an agent of ``tenant_id``.

    Loads the agent's tools (``automation.tools`` and its flow's tool nodes) from the tenant's
    definitions, built-ins where the tenant defined none; reads the call's numbers and finds the
    sender of its SMS through ``messaging`` (None: SMS is not configured). ``writer``: the
    process's store writer (tool calls are recorded through it); ``events``: workflows
    triggered by ``tool.completed``; ``sender``: the process's outbound sender (else the runner
    owns one, guarded by ``settings.outbound_allow_cidrs`` and opening sockets through
    ``network``, closed by ``aclose()``); ``tool_names``: the tools to offer instead of the
    agent's own list."""
    settings = settings or Settings.from_env()
    names = list(tool_names) if tool_names is not None else attached_tool_names(agent_config)
    defined = await ToolService(database, box).load(tenant_id, names)
    tools: dict[str, LoadedTool] = {}
    for name in names:
        if name in defined:
            tools[name] = defined[name]
        elif name in BUILTIN_SPECS:
            tools[name] = builtin_tool(name)
        else:
            log.warning("automation.unknown_tool", tenant=tenant_id, tool=name)
    caller, platform, sms = await _numbers(database, messaging, tenant_id, call_id)
    return ToolKit(
        tenant_id=tenant_id,
        tools=tools,
        caller_number=caller,
        platform_number=platform,
        sms=sms,
        log_=ToolCallLog(database, writer, events),
        sender=sender or Sender(Guard(settings.outbound_allow_cidrs), network=network),
        owns_sender=sender is None,
        redactor=agent_config.redactor(),
    )


async def build_tool_runner(
    *,
    controls: CallControls,
    transcript: TranscriptSource | None = None,
    **load: Any,
) -> AgentToolRunner:
    """``load_tool_kit`` (``load`` are its arguments) and ``bind`` in one step, for a call whose
    controls already exist."""
    kit = await load_tool_kit(call_id=controls.call_id, **load)
    return kit.bind(controls, transcript)


async def _numbers(
    database: Database, messaging: Messaging | None, tenant_id: str, call_id: str
) -> tuple[str, str, SmsSender | None]:
    """The caller's number, the platform's number of the call, and the sender of its SMS."""
    async with database.session() as session:
        call = await session.get(Call, call_id)
        if call is None or call.tenant_id != tenant_id:
            return "", "", None
        number = (
            await session.get(PhoneNumber, call.phone_number_id) if call.phone_number_id else None
        )
    outbound = call.direction.startswith("outbound")
    platform = (
        number.e164 if number is not None else (call.from_number if outbound else call.to_number)
    )
    caller = call.to_number if outbound else call.from_number
    sms = messaging.sender_for(number) if messaging is not None else None
    return caller, platform, sms
