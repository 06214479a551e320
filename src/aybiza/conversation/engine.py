"""The conversation of one call: its context, and one streamed answer per caller turn."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aybiza.conversation.context import merge_roles, trim_to_window
from aybiza.conversation.sentences import SentenceChunker
from aybiza.providers.base import (
    AnswerEnd,
    LlmRequest,
    LlmSession,
    Message,
    TextDelta,
    ToolCall,
    ToolSpec,
)


@dataclass(frozen=True, slots=True)
class FirstToken:
    """The model produced its first output (text or tool call); ``at`` is monotonic seconds."""

    at: float


@dataclass(frozen=True, slots=True)
class Sentence:
    """A complete sentence of the answer, ready for speech synthesis."""

    text: str
    at: float


ConversationEvent = FirstToken | Sentence | ToolCall | AnswerEnd


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    system_prompt: str
    model: str
    temperature: float
    max_tokens: int
    context_window: int
    language: str = "en-US"


class Conversation:
    """Holds what the caller said and what the caller actually *heard* of the agent.

    The pipeline adds the agent's text only once playout confirms it was heard, so after a
    barge-in the model never believes it said something the caller did not hear.
    """

    def __init__(
        self,
        session: LlmSession,
        settings: ConversationSettings,
        tools: tuple[ToolSpec, ...] = (),
    ) -> None:
        self._session = session
        self.settings = settings
        self._tools = tools
        self.messages: list[Message] = []

    def add_user(self, text: str) -> None:
        self.messages.append(Message(role="user", text=text))

    def add_agent(self, text: str, tool_calls: list[ToolCall] | None = None) -> None:
        if text or tool_calls:
            self.messages.append(Message(role="assistant", text=text, tool_calls=tool_calls or []))

    def request(self) -> LlmRequest:
        """The request for the next answer: context trimmed to the window, roles alternating."""
        settings = self.settings
        messages = trim_to_window(
            merge_roles(self.messages),
            system=settings.system_prompt,
            context_window=settings.context_window,
            reserve_tokens=settings.max_tokens,
        )
        return LlmRequest(
            system=settings.system_prompt,
            messages=tuple(messages),
            model=settings.model,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            tools=self._tools,
            language=settings.language,
        )

    async def respond(self) -> AsyncIterator[ConversationEvent]:
        """Stream the answer to the context so far, cut into sentences."""
        chunker = SentenceChunker()
        first = True
        async for event in self._session.respond(self.request()):
            if first and isinstance(event, TextDelta | ToolCall):
                first = False
                yield FirstToken(at=time.monotonic())
            if isinstance(event, TextDelta):
                for sentence in chunker.feed(event.text):
                    yield Sentence(sentence, at=time.monotonic())
            elif isinstance(event, ToolCall):
                # Speak what came before the tool call before acting on it.
                rest = chunker.flush()
                if rest:
                    yield Sentence(rest, at=time.monotonic())
                yield event
            else:
                rest = chunker.flush()
                if rest:
                    yield Sentence(rest, at=time.monotonic())
                yield event
