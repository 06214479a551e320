"""Request shaping every cloud model adapter shares: the answer-language line and Claude's turns.

Cloud models answer in the language of the system prompt unless told otherwise, and a caller who
speaks Spanish must hear Spanish, so a non-English call adds one line to the system prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

from aybiza.providers.base import Message

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


def system_prompt(system: str, language: str) -> str:
    """The agent's system prompt plus the answer-language line when the call is not English."""
    line = language_instruction(language)
    if line is None:
        return system
    return f"{system.rstrip()}\n\n{line}" if system.strip() else line


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
