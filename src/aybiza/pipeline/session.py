"""The real-time loop of one call: hear the caller, take turns, speak, let the caller interrupt."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog

from aybiza.analytics import metrics
from aybiza.analytics.recording import CallRecorder, CallStats
from aybiza.analytics.tracing import CallTrace
from aybiza.audio.codec import SAMPLE_RATE_HZ
from aybiza.conversation.engine import Conversation, ConversationSettings
from aybiza.conversation.tools import CALL_ENDING_SPECS, ToolKit, ToolRunner
from aybiza.pipeline.answer_turn import AnswerFactory
from aybiza.pipeline.audio_tap import AudioTap, TappedConnection
from aybiza.pipeline.barge_in import BargeIn
from aybiza.pipeline.call_ending import call_ending
from aybiza.pipeline.controls import LiveCallControls
from aybiza.pipeline.keypad import Keypad
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.recognition import Recognition, RecognitionUnavailable
from aybiza.pipeline.recognition_feed import hold_ms
from aybiza.pipeline.speculation import CallHooks, Speculator
from aybiza.pipeline.timings import TurnTimings
from aybiza.pipeline.transport import MediaConnection
from aybiza.pipeline.turn_detector import TurnDetector
from aybiza.pipeline.turn_record import AgentTurn, observe_timings, turn_record
from aybiza.pipeline.voicemail import MachineScreen
from aybiza.pipeline.voices import CallVoices
from aybiza.providers.engines import Engines

log = structlog.get_logger(__name__)

# The greeting goes out in one-second chunks so a barge-in knows how much of it was heard.
_GREETING_CHUNK_BYTES = SAMPLE_RATE_HZ


class CallSession:
    """Owns one call's state. The carrier calls ``on_audio``/``on_mark``/``on_dtmf``/``on_stop``
    in the order its messages arrive; recognition events arrive on one task; the agent's side of
    each turn runs on one task that a barge-in cancels. The plan's policies decide:
    ``TurnDetector`` when the caller has finished, ``InterruptionPolicy`` what caller speech stops
    the agent, ``ModelRouter`` which model answers. ``finished`` is set when the call is over,
    whoever ended it; ``ended_reason`` says why and ``transfer_to`` where the caller goes."""

    def __init__(
        self,
        plan: CallPlan,
        engines: Engines,
        transport: MediaConnection,
        recorder: CallRecorder,
        phrases: PhraseCache,
        tools: ToolKit | None = None,
        tap: AudioTap | None = None,
    ) -> None:
        self.plan = plan
        self.tap = tap
        transport = TappedConnection(transport, tap) if tap is not None else transport
        self.engines = engines
        self.recorder = recorder
        self.voices = CallVoices(plan, engines, phrases)
        self.playout = Playout(transport)
        self.turns = TurnDetector.for_plan(plan)
        self.policy = plan.interruption
        self.barge = BargeIn(self.playout, self.policy, self._barge_in)
        self.stats = CallStats()
        self.keypad = Keypad.for_plan(plan, self._keyed_in, self.stats)
        self.controls = LiveCallControls(plan, self.playout, self.keypad, transport)
        # The tools act on this call's controls and read its conversation as it goes.
        self.tools: ToolRunner | None = (
            tools.bind(self.controls, lambda: self.conversation.messages)
            if tools is not None and plan.tools_enabled
            else None
        )
        # Only a model reads tool specs; a flow's tool nodes call the runner directly.
        specs = (
            (*CALL_ENDING_SPECS, *(self.tools.specs() if self.tools else ()))
            if plan.uses_tools
            else ()
        )
        self.conversation = Conversation(
            engines.llm.open_session(plan.call_id),
            ConversationSettings(
                system_prompt=plan.system_prompt,
                model=plan.model,
                temperature=plan.temperature,
                max_tokens=plan.max_tokens,
                context_window=plan.context_window,
                language=plan.language,
            ),
            tools=specs,
        )
        self.answers = AnswerFactory(
            plan,
            self.voices,
            self.playout,
            engines.llm.name,
            self.tools,
            self._filler,
            self._speak_phrase,
        )
        hooks = CallHooks(
            self.conversation, self.answers, self._run_turn, self._begin, self.stats, self.voices
        )
        # Not for a scripted flow (no router): it answers at once, and a discarded answer moves it.
        self.speculator = Speculator(plan.speculative_answers and plan.router is not None, hooks)
        self.finished = asyncio.Event()
        self.ended_reason: str | None = None
        self.transfer_to: str | None = None
        self.screen = MachineScreen(plan.voicemail, self) if plan.voicemail else None
        self.trace = CallTrace(plan.call_id, **{"aybiza.call_sid": plan.call_sid})
        stt_engines = [engines.stt, *([engines.fallback_stt] if engines.fallback_stt else [])]
        self.recognition = Recognition(stt_engines, plan.stt)
        self._tasks: set[asyncio.Task[None]] = set()
        self._current: AgentTurn | None = None
        self._turns = 0
        self._started_at = 0.0
        self._heard_language: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open recognition and speak the greeting; called when the carrier's stream starts."""
        self._started_at = time.monotonic()
        self.trace.start()
        metrics.CALLS_STARTED.inc()
        metrics.CALLS_ACTIVE.inc()
        self._spawn(self.greet() if self.screen is None else self.screen.run(), "greeting")
        try:
            await self.recognition.open()
        except RecognitionUnavailable as exc:
            # The caller is greeted all the same; with no recogniser the call cannot go on.
            self.stats.stt_error = str(exc)[:500]
            self._spawn(self.end("stt-failed"), "end")
            return
        self._spawn(self._consume_recognition(), "recognition")
        self._spawn(self._limit_duration(), "max-duration")

    async def end(self, reason: str) -> None:
        """End the call once, whoever asks; persists the reason and releases the engines."""
        if self.ended_reason is not None:
            return
        self.ended_reason = reason
        await self.speculator.discard()
        if self._current is not None and self._current.task is not None:
            await self._cancel_turn(self._current)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.keypad.close()
        await self.recognition.close()
        await self.voices.aclose()
        if self.tools is not None:
            with contextlib.suppress(Exception):
                await self.tools.aclose()
        self.stats.duration_s = round(time.monotonic() - self._started_at, 3)
        self.stats.stt_messages = self.recognition.messages_sent
        if self.recognition.fallback is not None:
            self.stats.stt_ran = self.recognition.engine
            self.stats.stt_fallback = self.recognition.fallback
        self.recorder.ended(reason, self.stats, self.transfer_to)
        self.trace.end(reason)
        metrics.CALLS_ENDED.labels(reason).inc()
        metrics.CALLS_ACTIVE.dec()
        self.finished.set()

    async def on_audio(self, frame: bytes) -> None:
        """One inbound 20 ms μ-law frame from the caller."""
        self.stats.frames_in += 1
        if self.tap is not None:
            self.tap.caller(self.keypad.recorded(frame))
        screen = self.screen if self.screen is not None and self.screen.listening else None
        if screen is not None:
            screen.feed(frame)
        state = self.turns.on_frame(frame)
        await self.recognition.push(frame, hold_ms=hold_ms(state, self.plan.stt_batching))
        if screen is None:  # a machine's greeting or beep never interrupts the message
            await self.barge.on_frame(state)
        if self.turns.model_due:
            self._spawn(self._ask_turn_model(), "turn-model")
        if self.turns.finalize_due:
            await self.recognition.finalize(early=self.turns.finalize_early)
        if held := self.turns.overdue():
            await self._caller_said(held, self.turns.speech_end)

    def on_mark(self, name: str) -> None:
        self.playout.on_mark(name)

    async def on_dtmf(self, digit: str) -> None:
        """Digits reach the conversation as caller input (or a tool collecting them)."""
        if self.playout.speaking and not self.keypad.collecting:
            await self.barge.cut()
        await self.keypad.press(digit)

    async def on_stop(self) -> None:
        await self.end("caller-hangup")

    def warn(self, warning: str) -> None:
        """A carrier protocol problem the operator should see on the call record."""
        if len(self.stats.protocol_warnings) < 20:
            self.stats.protocol_warnings.append(warning)
        metrics.PROTOCOL_WARNINGS.inc()
        log.warning("call.protocol_warning", call_sid=self.plan.call_sid, warning=warning)

    async def _consume_recognition(self) -> None:
        try:
            async for event in self.recognition.events():
                finished: str | None = None
                if event.kind == "speech_started":
                    self.turns.on_speech_started()
                elif event.kind == "interim":
                    self.turns.on_interim(event.text)
                    if self.screen is None or not self.screen.listening:
                        await self.barge.on_words(event.text, final=False)
                    await self._speculate(self.turns.anticipated(event.text))
                elif event.kind == "final":
                    self._heard_language = event.language or self._heard_language
                    if self.screen is None or not self.screen.listening:
                        await self.barge.on_words(event.text, final=True)
                    finished = self.turns.on_final(event.text, speech_final=event.speech_final)
                    if not finished:
                        await self._speculate(self.turns.anticipated(""))
                else:
                    finished = self.turns.on_end_of_speech()
                if finished:
                    await self._caller_said(finished, self.turns.speech_end)
        except Exception as exc:
            metrics.ENGINE_ERRORS.labels("stt", self.engines.stt.name).inc()
            log.exception("call.stt_failed", call_sid=self.plan.call_sid)
            self.stats.stt_error = f"{type(exc).__name__}: {exc}"
            self._spawn(self.end("stt-failed"), "end")

    async def _ask_turn_model(self) -> None:
        """The end-of-turn model's verdict on the caller's audio; it may end a waiting turn."""
        if finished := await self.turns.ask_model():
            await self._caller_said(finished, self.turns.speech_end)

    async def _caller_said(self, text: str, speech_end: float, *, keyed: bool = False) -> None:
        """A caller utterance is final (``keyed``: digits): answer it or let a backchannel pass."""
        stt_final = time.monotonic()
        if self.screen is not None and self.screen.screened(speech_end):
            self.recorder.transcript("caller", text)  # heard while screening: not answered
            await self.speculator.discard()
            return
        current = self._current
        if current is not None and current.task is not None and not current.task.done():
            if self.playout.speaking:
                if not self.policy.final_interrupts(text):
                    self.recorder.transcript("caller", text)
                    return
                await self._barge_in()
            else:
                # The caller went on before the agent said anything: answer both together.
                current.superseded = True
                await self._cancel_turn(current)
        self.recorder.transcript("caller", text)
        heard, plan = self._heard_language, self.plan
        if heard and plan.detect_language and heard in plan.languages:  # answer in their language
            self.voices.language = self.conversation.language = heard
        timings = TurnTimings(speech_end=speech_end, stt_final=stt_final)
        metrics.STT_LATENCY.observe(max(stt_final - speech_end, 0.0))
        if not await self.speculator.take(text, timings):  # else the held answer plays now
            self.conversation.add_user(text)
            self._start_answer(text, timings, keyed=keyed)

    async def _speculate(self, text: str) -> None:
        """Words of a turn not over yet: a held answer, unless the agent answers or screens."""
        if self._current is None and (self.screen is None or not self.screen.listening):
            await self.speculator.heard(text)

    def _start_answer(self, user_text: str, timings: TurnTimings, *, keyed: bool) -> None:
        turn = self.answers.turn(user_text, timings, self.conversation)
        self._begin(turn, timings.speech_end, None if keyed else timings.stt_final)
        turn.task = asyncio.create_task(self._run_turn(turn), name=f"turn-{turn.index}")

    def _begin(self, turn: AgentTurn, speech_end: float, heard_at: float | None) -> None:
        """``turn`` is the call's next turn and the agent's current one."""
        self._turns += 1
        turn.index = self._turns
        turn.trace = self.trace.turn(self._turns, speech_end, heard_at, self.recognition.engine)
        self._current = turn

    async def _run_turn(self, turn: AgentTurn) -> None:
        answer = turn.answer
        assert answer is not None
        try:
            with turn.trace.active():
                await answer.run()
                if answer.error is not None:
                    metrics.ENGINE_ERRORS.labels("answer", self.engines.llm.name).inc()
                    await self._speak_phrase(self.plan.apology)
                await self.playout.wait_drained()
        finally:
            self._settle(turn)
        await self._act_on_tools(turn)

    async def _barge_in(self) -> None:
        current = self._current
        if current is None or current.task is None or current.task.done() or current.interrupted:
            return
        current.interrupted = True
        await self.playout.clear()
        self.stats.barge_ins += 1
        metrics.BARGE_INS.inc()
        await self._cancel_turn(current)
        # Streaming engines may still hold text or audio of the cancelled answer.
        await self.voices.clear()

    async def _cancel_turn(self, turn: AgentTurn) -> None:
        if turn.task is not None and not turn.task.done():
            turn.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await turn.task

    def _settle(self, turn: AgentTurn) -> None:
        """Put in the context and transcript only what the caller heard of the agent."""
        if turn.speculative:  # a held answer discarded: nothing was heard, nothing recorded
            self.speculator.settled(turn)
            return
        answer = turn.answer
        heard = turn.utterance.heard_text()
        # Tool rounds are already in the context with their results: add the speech after them.
        committed = answer.committed_sentences if answer else 0
        self.conversation.add_agent(turn.utterance.heard_text(committed) if committed else heard)
        if heard:
            self.recorder.transcript("agent", heard)
        if self._current is turn:
            self._current = None
        self.playout.forget(turn.utterance)
        turn.trace.end(**{"aybiza.interrupted": turn.interrupted or turn.superseded})
        if answer is None:
            return
        observe_timings(answer)
        self.stats.turns += 1
        self.stats.fillers += int(answer.filler_spoken)
        self.answers.after_tool_use = answer.asked_for_tools
        self.recorder.turn(turn_record(turn, answer, heard, self.plan))

    async def _act_on_tools(self, turn: AgentTurn) -> None:
        if turn.answer is None or turn.interrupted:
            return
        ending = call_ending(turn.answer.tool_calls, self.tools, self.conversation)
        if ending is not None:
            self.transfer_to = ending.transfer_to
            self.stats.transfer_summary = ending.summary
            await self.end(ending.reason)

    # ------------------------------------------------------------------ fixed phrases

    async def greet(self) -> None:
        """Speak the greeting: at the start, or (timed from then) once a screened call is a
        person; an outbound call screened for answering machines holds it until decided."""
        plan = self.plan
        if not plan.greeting:
            return
        started = time.monotonic()
        audio = await self.voices.phrase(plan.greeting)
        turn = AgentTurn(self.playout.start_utterance(), task=asyncio.current_task())
        self._current = turn
        index = self.playout.add_sentence(turn.utterance, plan.greeting)
        try:
            for offset in range(0, len(audio), _GREETING_CHUNK_BYTES):
                chunk = audio[offset : offset + _GREETING_CHUNK_BYTES]
                await self.playout.send(turn.utterance, index, chunk)
                if offset == 0:
                    waited_s = time.monotonic() - (started if self.screen else self._started_at)
                    metrics.GREETING_LATENCY.observe(waited_s)
                    self.stats.greeting_latency_ms = round(waited_s * 1000, 2)
            self.playout.finish_sentence(turn.utterance, index)
            await self.playout.wait_drained()
        finally:
            self.playout.finish_sentence(turn.utterance, index)
            self._settle(turn)
            self.trace.stage("greeting", started, time.monotonic())

    async def _filler(self) -> bytes:
        phrases = self.plan.filler_phrases
        return await self.voices.phrase(phrases[self._turns % len(phrases)])

    async def _speak_phrase(self, text: str) -> None:
        await self.controls.play_audio(await self.voices.phrase(text), text)

    async def _keyed_in(self, text: str) -> None:
        await self._caller_said(text, time.monotonic(), keyed=True)

    async def _limit_duration(self) -> None:
        await asyncio.sleep(self.plan.max_call_duration_s)
        await self.end("max-duration")

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
