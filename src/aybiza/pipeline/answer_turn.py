"""Builds the agent's side of a caller turn: the answer, on the model the router picks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aybiza.conversation.engine import Conversation
from aybiza.conversation.tools import ToolRunner
from aybiza.pipeline.answer import AgentAnswer, FillerSource
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.timings import TurnTimings
from aybiza.pipeline.tool_batch import PhraseSpeaker
from aybiza.pipeline.turn_record import AgentTurn
from aybiza.pipeline.voices import CallVoices


@dataclass(slots=True)
class AnswerFactory:
    """What every answer of one call shares; ``after_tool_use`` (the last answer asked for a
    tool) sends the next one to the router's ``complex`` model."""

    plan: CallPlan
    voices: CallVoices
    playout: Playout
    engine: str
    runner: ToolRunner | None
    filler: FillerSource
    speak_phrase: PhraseSpeaker
    after_tool_use: bool = False

    def turn(
        self,
        user_text: str,
        timings: TurnTimings,
        conversation: Conversation,
        release: asyncio.Event | None = None,
    ) -> AgentTurn:
        """The agent's answer to ``user_text`` on ``conversation``, not started (``release``:
        held until set, see ``pipeline.speculation``)."""
        plan = self.plan
        router = plan.router
        choice = router.choose(user_text, after_tool_use=self.after_tool_use) if router else None
        answer = AgentAnswer(
            conversation=conversation,
            tts=self.voices.session(),
            playout=self.playout,
            timings=timings,
            models=choice.models if choice is not None else (plan.model,),
            engine=self.engine,
            filler=self.filler if plan.filler_phrases else None,
            max_response_s=plan.max_response_ms / 1000,
            runner=self.runner,
            max_tool_calls=plan.max_tool_calls,
            speak_phrase=self.speak_phrase,
            # What follows tool results within the turn goes to the complex model.
            models_after_tools=router.after_tool_results().models if router else (),
            release=release,
        )
        return AgentTurn(
            answer.utterance,
            answer=answer,
            user_text=user_text,
            route=choice.reason if choice is not None else None,
            language=conversation.language,
        )
