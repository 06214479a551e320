"""The embedded extractor: post-call analysis without any cloud model, by documented rules.

- ``summary``: the caller's first substantive line, the agent's last line and how the call ended.
- ``sentiment``: the caller's lines scored with a small lexicon (positive minus negative words,
  "not"/"no"/"never" just before a word flips it): > 0 positive, < 0 negative, else neutral.
- ``success``: the agent ended or transferred the call (not a hang-up or an error), the caller
  was not negative, and every requested field was found.
- ``fields``: a slot the agent's flow captured under the same name (the caller's turns are
  replayed through the flow), else a pattern chosen by words in the field's name or description
  (email, phone, date, time, number/amount, name, yes/no); else null.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aybiza.agents.flow_spec import FlowSpec
from aybiza.providers.base import LlmRequest, Message
from aybiza.providers.llm.flow import FlowEngine

METHOD = "embedded-rules"
POSITIVE = frozenset(
    (
        "great",
        "good",
        "thanks",
        "thank",
        "perfect",
        "excellent",
        "wonderful",
        "awesome",
        "happy",
        "glad",
        "love",
        "lovely",
        "helpful",
        "appreciate",
        "nice",
        "amazing",
        "fantastic",
        "brilliant",
        "pleased",
        "yes",
        "sure",
    )
)
NEGATIVE = frozenset(
    (
        "bad",
        "terrible",
        "awful",
        "angry",
        "annoyed",
        "frustrated",
        "frustrating",
        "upset",
        "hate",
        "horrible",
        "useless",
        "ridiculous",
        "unacceptable",
        "disappointed",
        "disappointing",
        "worst",
        "poor",
        "complaint",
        "wrong",
        "problem",
        "cancel",
        "refund",
        "broken",
        "waiting",
        "rude",
    )
)
_NEGATORS = frozenset({"not", "no", "never", "don't", "didn't", "isn't", "wasn't", "can't"})
_AGENT_ENDINGS = ("agent-ended", "transferred")
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("email", "e-mail"), re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")),
    (("phone", "mobile", "callback"), re.compile(r"\+?\d[\d\s().-]{6,}\d")),
    (
        ("date", "day"),
        re.compile(
            r"\b(today|tomorrow|(?:next\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day|"
            r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?|"
            r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?)\b",
            re.IGNORECASE,
        ),
    ),
    (
        ("time", "hour"),
        re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\b\d{1,2}:\d{2}\b", re.I),
    ),
    (("name",), re.compile(r"\b(?:my name is|this is|i am|i'm)\s+([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)")),
    (
        ("number", "count", "amount", "size", "quantity", "order", "account", "id"),
        re.compile(r"\b\d[\d-]*\b"),
    ),
    (
        ("yes", "whether", "confirm", "agree", "wants"),
        re.compile(r"\b(yes|yeah|yep|no|nope)\b", re.I),
    ),
)


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the analysis reads: caller and agent lines in order, the caller's turns, and how
    the call ended."""

    lines: Sequence[tuple[str, str]]
    caller_turns: Sequence[str] = ()
    ended_reason: str | None = None
    slots: Mapping[str, str] = field(default_factory=dict)

    @property
    def caller_lines(self) -> list[str]:
        """What the caller said."""
        return [text for speaker, text in self.lines if speaker == "caller" and text.strip()]

    @property
    def agent_lines(self) -> list[str]:
        """What the caller heard the agent say."""
        return [text for speaker, text in self.lines if speaker == "agent" and text.strip()]


async def flow_slots(flow: FlowSpec, caller_turns: Sequence[str], call_id: str) -> dict[str, str]:
    """The slots the flow captured, by replaying the caller's turns through it."""
    session = FlowEngine(flow).open_session(f"analysis-{call_id}")
    for text in caller_turns:
        request = LlmRequest(system="", messages=(Message(role="user", text=text),))
        async for _event in session.respond(request):
            pass
    return dict(session.slots)


def sentiment(lines: Sequence[str]) -> str:
    """``positive``, ``neutral`` or ``negative`` from the lexicon score of ``lines``."""
    score = 0
    for line in lines:
        words = re.findall(r"[a-z']+", line.lower())
        for index, word in enumerate(words):
            weight = 1 if word in POSITIVE else -1 if word in NEGATIVE else 0
            if weight and index > 0 and words[index - 1] in _NEGATORS:
                weight = -weight
            score += weight
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def extract_field(name: str, description: str, transcript: Transcript) -> str | None:
    """The value of one field by the rules in the module docstring, or None."""
    if transcript.slots.get(name):
        return transcript.slots[name]
    words = f"{name} {description}".lower().replace("_", " ")
    text = " \n".join(transcript.caller_lines)
    for keys, pattern in _PATTERNS:
        if any(re.search(rf"\b{re.escape(key)}", words) for key in keys):
            match = pattern.search(text)
            if match is not None:
                return (match.group(1) if match.groups() else match.group(0)).strip()
            return None
    return None


def summarize(transcript: Transcript) -> str:
    """A short summary from the transcript's turns."""
    caller = [line for line in transcript.caller_lines if len(line.split()) >= 3]
    caller = caller or transcript.caller_lines
    if not caller:
        return "The caller said nothing the agent could recognise."
    parts = [f"The caller said: \u201c{_clip(caller[0])}\u201d."]
    if transcript.agent_lines:
        parts.append(f"The agent's last words: \u201c{_clip(transcript.agent_lines[-1])}\u201d.")
    turns = len(transcript.caller_lines)
    how = {
        "agent-ended": "ended by the agent",
        "transferred": "transferred to a person",
        "caller-hangup": "the caller hung up",
    }.get(transcript.ended_reason or "", f"ended: {transcript.ended_reason or 'unknown'}")
    parts.append(f"{turns} caller turn{'s' if turns != 1 else ''}; {how}.")
    return " ".join(parts)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def analyze(transcript: Transcript, fields: Mapping[str, str]) -> dict[str, Any]:
    """The whole analysis: summary, sentiment, success (with a reason) and the fields."""
    values = {name: extract_field(name, text, transcript) for name, text in fields.items()}
    mood = sentiment(transcript.caller_lines)
    missing = [name for name, value in values.items() if value is None]
    if transcript.ended_reason not in _AGENT_ENDINGS:
        success, reason = (
            False,
            f"the call ended without the agent finishing it ({transcript.ended_reason})",
        )
    elif mood == "negative":
        success, reason = False, "the caller sounded negative"
    elif missing:
        success, reason = False, f"not found in the call: {', '.join(missing)}"
    else:
        success, reason = True, "the agent completed the call and every field was found"
    return {
        "summary": summarize(transcript),
        "sentiment": mood,
        "success": success,
        "success_reason": reason,
        "fields": values,
    }
