"""The conversation of one call: its context, and one streamed answer per caller turn."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aybiza.conversation.context import merge_roles, trim_to_window
from aybiza.conversation.failover import Attempt, respond_with_failover
from aybiza.conversation.sentences import SentenceChunker
from aybiza.providers.base import (
    AnswerEnd,
    LlmRequest,
    LlmSession,
    Message,
    TextDelta,
    ToolCall,
    ToolResult,
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
        # The caller's language; follows the recogniser's detection when the agent allows it.
        self.language = settings.language

    def set_tools(self, tools: tuple[ToolSpec, ...]) -> None:
        """The tools offered to the model from the next answer on."""
        self._tools = tools

    def fork(self, user_text: str) -> Conversation:
        """A copy of this conversation with the caller's ``user_text`` added, for an answer
        started before the turn ended (speculative): this context is left as it is. The copy
        shares the model session, settings and tools; ``adopt`` makes it this context."""
        copy = Conversation(self._session, self.settings, self._tools)
        copy.messages = [*self.messages, Message(role="user", text=user_text)]
        copy.language = self.language
        return copy

    def adopt(self, fork: Conversation) -> bool:
        """The caller did say what ``fork`` was started for: its caller message joins this
        context, and the fork reads and writes this context from now on. False (nothing
        changed) when this context moved on since the fork, or the language changed."""
        base = len(self.messages)
        if fork.messages[:base] != self.messages or fork.language != self.language:
            return False
        self.messages.extend(fork.messages[base:])
        fork.messages = self.messages
        return True

    def add_user(self, text: str) -> None:
        self.messages.append(Message(role="user", text=text))

    def add_agent(self, text: str, tool_calls: list[ToolCall] | None = None) -> None:
        if text or tool_calls:
            self.messages.append(Message(role="assistant", text=text, tool_calls=tool_calls or []))

    def add_tool_results(self, results: list[ToolResult]) -> None:
        """What the tools returned, as the user turn that answers the agent's tool calls."""
        if results:
            self.messages.append(Message(role="user", tool_results=results))

    def replace_tool_result(self, result: ToolResult) -> bool:
        """Put ``result`` in place of the result already in the context for its tool call (a
        tool that finished after the caller interrupted it); whether there was one."""
        for message in reversed(self.messages):
            for index, old in enumerate(message.tool_results):
                if old.tool_call_id == result.tool_call_id:
                    message.tool_results[index] = result
                    return True
        return False

    def request(self, model: str | None = None, *, tools_allowed: bool = True) -> LlmRequest:
        """The request for the next answer: context trimmed to the window, roles alternating;
        without ``tools_allowed`` the model must answer without calling a tool."""
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
            model=model or settings.model,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            tools=self._tools,
            language=self.language,
            tool_choice="auto" if tools_allowed or not self._tools else "none",
        )

    async def respond(
        self,
        models: Sequence[str] = (),
        *,
        deadline_s: float | None = None,
        attempts: list[Attempt] | None = None,
        engine: str = "",
        tools_allowed: bool = True,
    ) -> AsyncIterator[ConversationEvent]:
        """Stream the answer to the context so far, cut into sentences, from the first of
        ``models`` that answers (see ``failover``); ``attempts`` records each model tried.
        Without ``tools_allowed`` the model is asked to answer without calling a tool."""
        chunker = SentenceChunker()
        first = True

        def request_for(model: str) -> LlmRequest:
            return self.request(model, tools_allowed=tools_allowed)

        events = respond_with_failover(
            self._session,
            request_for,
            models or (self.settings.model,),
            deadline_s=deadline_s,
            attempts=attempts if attempts is not None else [],
            engine=engine,
        )
        async for event in events:
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
