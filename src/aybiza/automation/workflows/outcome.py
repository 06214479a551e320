"""Whether a call succeeded, read from the whole call rather than from how it ended alone.

A call fails, checked in this order and with the first reason that applies, when:

1. the caller said nothing;
2. it ended other than by the agent (end or transfer), unless the caller hung up after
   closing the call themselves ("no thanks, bye") or after the agent had completed their
   errand ("You are booked for Monday") or asked whether there was anything else;
3. the agent said it could not do something ("I could not book that", "I cannot help") and no
   later line of the agent completed it ("You are booked for Monday instead");
4. the agent failed to understand the caller on the last two turns before its final line
   (it says it did not catch them, re-asks with "Sorry, which...", or repeats itself);
5. the caller's last words were negative ("This is useless.");
6. a field the analysis asked for was not found in the call.

So a polite "No, thank you" after a booking is a success, and a caller who thanks an agent that
could not book is still a failed call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aybiza.automation.workflows.sentiment import score_line

AGENT_ENDINGS = ("agent-ended", "transferred")
# The agent owning up to something it could not do.
_FAILURE = re.compile(
    r"\b(could not|couldn't|cannot|can't|unable to|(?:was|were) not able|(?:wasn't|weren't) "
    r"able|went wrong|failed|not possible)\b"
)
# The agent reporting an errand done.
_COMPLETION = re.compile(
    r"\b(booked|rebooked|confirmed|scheduled|reserved|cancell?ed|all set|has been sent|"
    r"is done|updated)\b"
)
# The agent offering more help: it considers the caller's request served.
_ANYTHING_ELSE = re.compile(r"\banything else\b")
# The agent saying it did not understand, or re-asking with an apology.
_NOT_UNDERSTOOD = re.compile(
    r"\b(?:did not|didn't) (?:catch|understand|get) that\b|\bsay that again\b|\brepeat that\b|"
    r"^sorry[,.]? (?:which|what|when|where|who|how)\b"
)
# A caller closing the call: goodbyes and thanks, or a bare "no" to "anything else?".
_CLOSING = re.compile(
    r"\b(?:bye|goodbye|thank|thanks|cheers|that is all|that's all|that's it)\b|^(?:no|nope)\W*$"
)
_GAVE_UP_AFTER = 2


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on a call and the sentence that explains it."""

    success: bool
    reason: str


def call_outcome(
    lines: Sequence[tuple[str, str]], ended_reason: str | None, missing_fields: Sequence[str]
) -> Outcome:
    """Judge a call by the rules in the module docstring. ``lines``: (speaker, text) in order,
    speaker ``caller`` or ``agent``; ``missing_fields``: requested fields not found."""
    caller = [_normal(text) for speaker, text in lines if speaker == "caller" and text.strip()]
    agent = [_normal(text) for speaker, text in lines if speaker == "agent" and text.strip()]
    if not caller:
        return Outcome(False, "the caller said nothing the agent could recognise")
    last_word = _last_word(agent)
    served = last_word[0] == "completed" or (
        last_word[0] != "failed" and bool(agent) and _ANYTHING_ELSE.search(agent[-1]) is not None
    )
    if ended_reason not in AGENT_ENDINGS and not (
        ended_reason == "caller-hangup" and (_CLOSING.search(caller[-1]) is not None or served)
    ):
        return Outcome(False, f"the call ended without the agent finishing it ({ended_reason})")
    if last_word[0] == "failed":
        return Outcome(False, f"the agent could not do what was asked: \u201c{last_word[1]}\u201d")
    if _misunderstood_at_the_end(agent, ended_reason) >= _GAVE_UP_AFTER:
        return Outcome(False, "the agent could not understand the caller")
    if score_line(caller[-1]).sign < 0:
        return Outcome(False, f"the caller ended the call unhappy: \u201c{caller[-1]}\u201d")
    if missing_fields:
        return Outcome(False, f"not found in the call: {', '.join(missing_fields)}")
    return Outcome(True, "the agent completed the call and every field was found")


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("\u2019", "'").split())


def _last_word(agent: Sequence[str]) -> tuple[str, str]:
    """What the agent's last decisive line said: ``failed`` (it could not do something),
    ``completed`` (an errand done) or ``none``, with that line."""
    for line in reversed(agent):
        if _FAILURE.search(line):
            return "failed", line
        if _COMPLETION.search(line):
            return "completed", line
    return "none", ""


def _misunderstood_at_the_end(agent: Sequence[str], ended_reason: str | None) -> int:
    """How many of the agent's last lines in a row said it did not understand the caller,
    not counting the goodbye or transfer line of a call the agent ended."""
    spoken = list(agent[:-1] if ended_reason in AGENT_ENDINGS else agent)
    run = 0
    for index in range(len(spoken) - 1, -1, -1):
        line = spoken[index]
        repeated = index > 0 and spoken[index - 1] == line
        if not (_NOT_UNDERSTOOD.search(line) or repeated):
            break
        run += 1
    return run
