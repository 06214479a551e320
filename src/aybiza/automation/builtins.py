"""Built-in tools that act on the live call: ``send_dtmf``, ``send_sms``, ``collect_digits``.

(``end_call`` and ``transfer_call`` are carried out by the call loop; only their preconditions
run here, see ``AgentToolRunner.check_precondition``.)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aybiza.automation.dtmf import (
    DIGITS_PATTERN,
    GAP_MS,
    PAUSE_MS,
    TONE_MS,
    dtmf_audio,
    key_groups,
)
from aybiza.automation.messaging import SmsError, SmsSender
from aybiza.conversation.tools import CallControls, ToolPolicy
from aybiza.providers.base import ToolSpec


class ToolFailure(Exception):
    """A tool could not do its job; the message goes back to the model as an error result."""


@dataclass(frozen=True, slots=True)
class LiveCall:
    """The call a tool runs in: its controls, the caller's number, the number the call came
    in on (SMS are sent from it) and the sender of its SMS (None: not configured)."""

    controls: CallControls
    caller_number: str = ""
    platform_number: str = ""
    sms: SmsSender | None = None


BUILTIN_SPECS: dict[str, ToolSpec] = {
    "send_dtmf": ToolSpec(
        name="send_dtmf",
        description="Press keys on the phone keypad (keypad events, or DTMF tones played into "
        "the call), e.g. to navigate another company's phone menu. 'digits': 0-9, *, #, A-D; "
        "'w' waits 0.5 s.",
        input_schema={
            "type": "object",
            "properties": {"digits": {"type": "string", "pattern": DIGITS_PATTERN}},
            "required": ["digits"],
            "additionalProperties": False,
        },
    ),
    "send_sms": ToolSpec(
        name="send_sms",
        description="Send a text message (SMS) to the caller's phone, e.g. a confirmation with "
        "the details you agreed on. 'body' is the message text.",
        input_schema={
            "type": "object",
            "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 1600}},
            "required": ["body"],
            "additionalProperties": False,
        },
    ),
    "collect_digits": ToolSpec(
        name="collect_digits",
        description="Wait for the caller to type digits on their keypad (an account number, a "
        "PIN). Ask them first. Stops at 'terminator' (default '#'), after 'max_digits', or "
        "after 'timeout_s' seconds without a key.",
        input_schema={
            "type": "object",
            "properties": {
                "max_digits": {"type": "integer", "minimum": 1, "maximum": 32, "default": 16},
                "terminator": {"type": "string", "enum": ["#", "*", ""], "default": "#"},
                "timeout_s": {"type": "number", "minimum": 1, "maximum": 30, "default": 10},
            },
            "additionalProperties": False,
        },
    ),
}

BUILTIN_POLICIES: dict[str, ToolPolicy] = {
    # Half a key sequence or a half-sent message is worse than finishing them.
    "send_dtmf": ToolPolicy(finish_on_barge_in=True, timeout_s=40.0),
    "send_sms": ToolPolicy(finish_on_barge_in=True, timeout_s=20.0),
    "collect_digits": ToolPolicy(finish_on_barge_in=False, timeout_s=32 * 30 + 5.0),
}


async def run_builtin(kind: str, arguments: dict[str, Any], call: LiveCall) -> dict[str, Any]:
    """Run a built-in with validated arguments; raises ToolFailure."""
    if kind == "send_dtmf":
        return await _send_dtmf(str(arguments["digits"]), call)
    if kind == "send_sms":
        return await _send_sms(str(arguments["body"]), call)
    if kind == "collect_digits":
        return await _collect_digits(arguments, call)
    raise ToolFailure(f"{kind} is not a tool this runner can run")


async def _send_dtmf(digits: str, call: LiveCall) -> dict[str, Any]:
    """Keys as the carrier's keypad events when it has them (RFC 4733 on SIP: each group sent,
    then each pause waited out), else as tones played into the call."""
    try:
        groups = key_groups(digits)
    except ValueError as exc:
        raise ToolFailure(str(exc)) from exc
    started = time.monotonic()
    pressed = 0
    for group in groups:
        if group.startswith("w"):
            await asyncio.sleep(len(group) * PAUSE_MS / 1000)
        elif not await call.controls.send_digits(group):
            # No keypad events on this call: everything not yet pressed goes as tones.
            rest = digits[pressed:]
            await call.controls.play_audio(dtmf_audio(rest))
            keys = len(rest) - rest.count("w")
            duration_ms = keys * (TONE_MS + GAP_MS) + rest.count("w") * PAUSE_MS
            return {"sent": digits, "duration_ms": duration_ms, "as": "tones"}
        pressed += len(group)
    duration_ms = round((time.monotonic() - started) * 1000)
    return {"sent": digits, "duration_ms": duration_ms, "as": "keypad events"}


async def _send_sms(body: str, call: LiveCall) -> dict[str, Any]:
    if call.sms is None:
        raise ToolFailure(
            "SMS is not configured: the number has no Twilio account and the platform has no "
            "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN"
        )
    if not call.caller_number.startswith("+") or not call.platform_number.startswith("+"):
        raise ToolFailure("SMS needs the caller's and the agent's phone numbers (E.164)")
    try:
        return await call.sms.send(to=call.caller_number, from_=call.platform_number, body=body)
    except SmsError as exc:
        raise ToolFailure(str(exc)) from exc


async def _collect_digits(arguments: dict[str, Any], call: LiveCall) -> dict[str, Any]:
    max_digits = int(arguments.get("max_digits", 16))
    terminator = str(arguments.get("terminator", "#"))
    timeout_s = float(arguments.get("timeout_s", 10))
    digits = await call.controls.collect_digits(
        max_digits=max_digits, terminator=terminator, timeout_s=timeout_s
    )
    return {"digits": digits, "complete": bool(digits)}
