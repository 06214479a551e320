"""A simulated caller: the eval model plays a scenario's ``persona`` line by line, reading
what the agent said so far, until its goal is met or ``max_turns`` lines were said."""

from __future__ import annotations

from aybiza.evals.model import EvalModel
from aybiza.providers.base import Message, Role

HANG_UP = "[hang up]"
SYSTEM = (
    "You are role-playing a person who phoned a business and is talking to its AI phone agent. "
    "Stay in character. Who you are and what you want:\n{persona}\n\n"
    "Each time, answer with only the words you say next: one or two short spoken sentences, no "
    "stage directions, no quotes. Speak the language of the BCP 47 tag {language}. When you "
    f"got what you called for, or the agent says goodbye, answer exactly {HANG_UP}"
)


class PersonaCaller:
    """Decides the caller's next line from the conversation so far."""

    def __init__(self, model: EvalModel, persona: str, language: str) -> None:
        self._model = model
        self._system = SYSTEM.format(persona=persona, language=language)
        self._language = language

    async def next_line(self, conversation: list[tuple[str, str]]) -> str | None:
        """The caller's next line, None to hang up. ``conversation`` is (speaker, text) in
        order, speaker ``agent`` or ``caller``; the agent spoke first (its greeting)."""
        messages: list[Message] = []
        for speaker, text in conversation:
            role: Role = "user" if speaker == "agent" else "assistant"
            if messages and messages[-1].role == role:
                messages[-1].text += " " + text
            else:
                messages.append(Message(role=role, text=text))
        if not messages or messages[0].role != "user":
            # The agent had no greeting: the caller speaks first, into a picked-up line.
            messages.insert(0, Message(role="user", text="(the agent picked up and is silent)"))
        if messages[-1].role != "user":
            messages.append(Message(role="user", text="(the agent is silent)"))
        line = await self._model.complete(self._system, messages, language=self._language)
        line = line.strip().strip('"').strip()
        if not line or HANG_UP in line.lower():
            return None
        return line
