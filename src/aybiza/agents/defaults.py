"""The one table of defaults for how an agent takes turns, answers and redacts.

The agent schema (``aybiza.agents.schema``), the call plan and the call loop's policies
(``aybiza.pipeline``) all read their defaults from here, so an agent that leaves a knob out gets
the same behaviour wherever it is read; ``docs/agents.md`` prints ``markdown_table()``. Each name
carries its unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# When the caller has finished (``TurnDetector``).
END_OF_TURN_SILENCE_MS = 500
ENDPOINTING_MS = 300
# The end-of-turn model (Smart Turn v3) judges the caller's voice along with the words.
# Off by default: one decision costs ~150 ms of CPU here (docs/conversation.md), too much for
# every turn of every call; an agent that needs it turns it on.
END_OF_TURN_MODEL = False
# What caller speech stops the agent (``InterruptionPolicy``).
INTERRUPTION_THRESHOLD = 0.5
MIN_VOICE_MS_BASE = 150
MIN_VOICE_MS_PER_THRESHOLD = 500
MIN_WORDS = 1
BACKCHANNEL_PHRASES: tuple[str, ...] = (
    "uh-huh",
    "uh huh",
    "mm-hmm",
    "mhm",
    "yeah",
    "yep",
    "okay",
    "ok",
    "right",
    "sure",
)
# How the agent answers.
MAX_RESPONSE_MS = 1500
# The model starts, unplayed, on a transcript that reads as finished (``pipeline.speculation``).
SPECULATIVE_ANSWERS = False
MAX_TOKENS = 300
TEMPERATURE = 0.3
CONTEXT_WINDOW_TOKENS = 32_000
MAX_TOOL_CALLS = 5
FILLER_PHRASES: tuple[str, ...] = ("One moment.",)
# The call.
MAX_CALL_DURATION_S = 1800
DTMF_INTERDIGIT_MS = 1000
# What is redacted from what the platform stores and sends (``Redactor``): nothing by default.
REDACTION_MODE: Literal["mask", "replace_with_category"] = "replace_with_category"
REDACTION_STT = True


def min_voice_ms(interruption_threshold: float) -> int:
    """Voiced caller speech (ms) before the agent stops talking: 150 + 500 x threshold."""
    return round(MIN_VOICE_MS_BASE + MIN_VOICE_MS_PER_THRESHOLD * interruption_threshold)


MIN_VOICE_MS = min_voice_ms(INTERRUPTION_THRESHOLD)


@dataclass(frozen=True, slots=True)
class Default:
    """One row of the table: where the agent JSON sets it, its default, what it does."""

    field: str
    policy: str
    value: str
    meaning: str


TABLE: tuple[Default, ...] = (
    Default(
        "parameters.end_of_turn_silence_ms",
        "TurnDetector",
        str(END_OF_TURN_SILENCE_MS),
        "caller silence (ms) after which the turn is over",
    ),
    Default(
        "parameters.end_of_turn_model",
        "TurnDetector",
        str(END_OF_TURN_MODEL).lower(),
        "the end-of-turn model must also hear a finished turn (falls back to text alone "
        "when its weights are not installed)",
    ),
    Default(
        "speech.endpointing_ms",
        "TurnDetector",
        str(ENDPOINTING_MS),
        "silence (ms) the recogniser waits before it finalises",
    ),
    Default(
        "parameters.interruption_threshold",
        "InterruptionPolicy",
        str(INTERRUPTION_THRESHOLD),
        f"0..1; min_voice_ms = 150 + 500 x threshold ({MIN_VOICE_MS} ms) of voiced speech stop "
        "the agent",
    ),
    Default(
        "speech.interruption_min_words",
        "InterruptionPolicy",
        str(MIN_WORDS),
        "recognised words (not backchannel) needed before the agent stops",
    ),
    Default(
        "speech.backchannel_phrases",
        "InterruptionPolicy",
        ", ".join(BACKCHANNEL_PHRASES),
        "caller words that never interrupt the agent",
    ),
    Default(
        "parameters.max_response_time",
        "CallSession",
        str(MAX_RESPONSE_MS),
        "ms to the first audio before a filler phrase is spoken",
    ),
    Default(
        "parameters.speculative_answers",
        "CallSession",
        "true" if SPECULATIVE_ANSWERS else "false",
        "start the answer, unplayed, on a transcript that reads as finished; discarded if "
        "the caller goes on (model-driven agents; a flow never speculates)",
    ),
    Default(
        "parameters.filler_phrases",
        "CallSession",
        ", ".join(FILLER_PHRASES),
        "spoken while a slow answer or tool call is pending",
    ),
    Default("parameters.max_tokens", "ModelRouter", str(MAX_TOKENS), "tokens per answer"),
    Default("parameters.temperature", "ModelRouter", str(TEMPERATURE), "model sampling"),
    Default(
        "parameters.context_window",
        "Conversation",
        str(CONTEXT_WINDOW_TOKENS),
        "tokens of history kept",
    ),
    Default(
        "automation.max_tool_calls",
        "Conversation",
        str(MAX_TOOL_CALLS),
        "tool calls per caller turn; at the cap the model answers without tools",
    ),
    Default(
        "parameters.max_call_duration_s",
        "CallSession",
        str(MAX_CALL_DURATION_S),
        "seconds before the agent hangs up",
    ),
    Default(
        "redaction.categories",
        "Redactor",
        "none (off)",
        "personal data removed from transcripts, analysis, logs, webhooks and workflow payloads "
        "(docs/security.md)",
    ),
    Default(
        "redaction.mode",
        "Redactor",
        REDACTION_MODE,
        "mask keeps the shape (#### ****); replace_with_category writes [CREDIT_CARD]",
    ),
    Default(
        "redaction.stt",
        "Redactor",
        str(REDACTION_STT).lower(),
        "also request Deepgram's own redact (pci, ssn) for the categories it covers",
    ),
    Default(
        "(not configurable)",
        "Keypad",
        str(DTMF_INTERDIGIT_MS),
        "ms without a new key that ends keypad input",
    ),
)


def markdown_table() -> str:
    """The table as ``docs/agents.md`` prints it."""
    lines = ["| field | policy | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{d.field}` | `{d.policy}` | {d.value} | {d.meaning} |" for d in TABLE]
    return "\n".join(lines)
