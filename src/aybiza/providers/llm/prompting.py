"""Request shaping every cloud model adapter shares: the answer-language line and Claude's turns.

Cloud models answer in the language of the system prompt unless told otherwise, and a caller who
speaks Spanish must hear Spanish, so a non-English call adds one line to the system prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aybiza.providers.base import LlmRequest, Message

# The user turn put before an opening assistant greeting: Claude's APIs require the first
# message to be the user's, and this tells the model why there is no caller text yet.
CALL_CONNECTED = "(The call has connected.)"

# Primary language subtag -> English name, for the answer-language line. Tags not listed still
# get a line naming the tag itself, which models understand.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "zh": "Chinese",
}


def language_instruction(language: str) -> str | None:
    """The line telling the model to answer in ``language`` (BCP 47), or None for English."""
    tag = language.strip().replace("_", "-")
    primary = tag.split("-", 1)[0].lower()
    if primary in ("", "en"):
        return None
    name = LANGUAGE_NAMES.get(primary)
    if name is None:
        return f"Answer in the language with BCP 47 tag {tag}."
    return f"Answer in {name} ({tag})."


# Told to the model when the turn's tool calls are used up (``tool_choice="none"``).
NO_MORE_TOOLS = (
    "You cannot call any more tools for the caller's last request: answer the caller now, in "
    "words, with what you already know."
)


def system_prompt(system: str, language: str, *, tools_closed: bool = False) -> str:
    """The agent's system prompt plus the answer-language line when the call is not English,
    and the no-more-tools line when the request allows no tool call."""
    lines = [line for line in (language_instruction(language),) if line is not None]
    if tools_closed:
        lines.append(NO_MORE_TOOLS)
    if not lines:
        return system
    return "\n\n".join(part for part in (system.rstrip(), *lines) if part.strip())


def request_system_prompt(request: LlmRequest) -> str:
    """``system_prompt`` for one request."""
    return system_prompt(
        request.system, request.language, tools_closed=request.tool_choice == "none"
    )


def tool_blocks_as_text(messages: Sequence[Message]) -> list[Message]:
    """The messages with their tool calls and results written out as text, for a vendor that
    cannot be told "no tool now" and refuses tool blocks in a request that offers no tools
    (Bedrock: no ``toolChoice`` "none", and ``toolConfig`` is required with tool blocks)."""
    names: dict[str, str] = {}
    written: list[Message] = []
    for message in messages:
        parts: list[str] = []
        for result in message.tool_results:
            name = names.get(result.tool_call_id, "the tool")
            outcome = "failed" if result.is_error else "returned"
            parts.append(f"({name} {outcome}: {json.dumps(result.content, ensure_ascii=False)})")
        if message.text.strip():
            parts.append(message.text)
        for call in message.tool_calls:
            names[call.id] = call.name
            arguments = json.dumps(call.arguments, ensure_ascii=False)
            parts.append(f"(I called {call.name} with {arguments}.)")
        written.append(Message(role=message.role, text="\n".join(parts)))
    return written


def claude_turns(messages: Sequence[Message]) -> list[Message]:
    """Messages in the shape Claude's APIs accept: non-empty, alternating, user first.

    Empty messages are dropped and same-role neighbours merged (text joined by a line break),
    since either would be refused; an opening assistant message (the greeting) gets a
    ``CALL_CONNECTED`` user turn before it.
    """
    turns: list[Message] = []
    for message in messages:
        if not (message.text.strip() or message.tool_calls or message.tool_results):
            continue
        if turns and turns[-1].role == message.role:
            last = turns[-1]
            texts = [text for text in (last.text, message.text) if text.strip()]
            turns[-1] = Message(
                role=last.role,
                text="\n".join(texts),
                tool_calls=[*last.tool_calls, *message.tool_calls],
                tool_results=[*last.tool_results, *message.tool_results],
            )
        else:
            turns.append(message)
    if turns and turns[0].role == "assistant":
        turns.insert(0, Message(role="user", text=CALL_CONNECTED))
    return turns
