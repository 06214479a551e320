"""Keep the conversation within the model's context window, oldest turns dropped first."""

from __future__ import annotations

from collections.abc import Sequence

from aybiza.providers.base import Message

# Without the vendor's tokenizer offline, estimate: about 4 characters per token for English,
# plus a few tokens of framing per message. Rough, but errs towards trimming early.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def message_tokens(message: Message) -> int:
    size = estimate_tokens(message.text) + MESSAGE_OVERHEAD_TOKENS
    size += sum(estimate_tokens(str(call.arguments)) + 8 for call in message.tool_calls)
    size += sum(estimate_tokens(str(result.content)) + 8 for result in message.tool_results)
    return size


def merge_roles(messages: Sequence[Message]) -> list[Message]:
    """Join neighbouring messages of the same role: models require user/assistant alternation
    (a barge-in can leave two caller utterances in a row)."""
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1].role == message.role and not message.tool_results:
            last = merged[-1]
            merged[-1] = Message(
                role=last.role,
                text=" ".join(part for part in (last.text, message.text) if part),
                tool_calls=[*last.tool_calls, *message.tool_calls],
                tool_results=list(last.tool_results),
            )
        else:
            merged.append(message)
    return merged


def trim_to_window(
    messages: Sequence[Message], *, system: str, context_window: int, reserve_tokens: int
) -> list[Message]:
    """The newest messages that fit in ``context_window`` tokens after the system prompt and the
    answer's reserve. The result starts with a user message, as the models require."""
    budget = context_window - estimate_tokens(system) - reserve_tokens
    kept: list[Message] = []
    for message in reversed(messages):
        cost = message_tokens(message)
        if budget - cost < 0 and kept:
            break
        budget -= cost
        kept.append(message)
    kept.reverse()
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept
