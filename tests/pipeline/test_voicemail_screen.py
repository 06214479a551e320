"""The machine screen inside a real ``CallSession`` on the in-memory carrier: the greeting is
held while the callee is screened, a machine or fax is hung up on (or left the message), what a
machine says is never answered, and the carrier's verdict drives the same actions."""

from __future__ import annotations

import asyncio

from tests.pipeline.callee_audio import human_greeting, machine_greeting, silence, spoken, tone
from tests.pipeline.loop_kit import LoopCall, ScriptedLlm, plan, say, settle

from aybiza.pipeline.plan import VoicemailPlan

HANG_UP = VoicemailPlan(detection="local", action="hang_up")
LEAVE = VoicemailPlan(detection="local", action="leave_message", message="Please call us back.")


def agent_audio(call: LoopCall) -> int:
    return sum(len(item.audio) for item in call.media.sent if item.kind == "media")


async def test_a_machine_is_hung_up_on_without_hearing_the_greeting() -> None:
    call = LoopCall(plan(voicemail=HANG_UP), ScriptedLlm())
    await call.start()
    await call.frames(await asyncio.to_thread(machine_greeting))
    assert call.session.finished.is_set()
    assert call.session.ended_reason == "machine-detected"
    assert call.session.stats.answered_by == "machine"
    assert agent_audio(call) == 0


async def test_a_person_hears_the_greeting_once_screened() -> None:
    call = LoopCall(plan(voicemail=HANG_UP), ScriptedLlm())
    await call.start()
    hello = await asyncio.to_thread(human_greeting)
    await call.frames(hello[: 8 * 600])
    assert agent_audio(call) == 0, "held while the callee is still saying hello"
    await call.frames(hello[8 * 600 :])
    await call.play_all()
    assert call.session.stats.answered_by == "human"
    assert ("agent", "Hello there.") in call.recorder.lines
    await call.end()


async def test_a_fax_is_hung_up_on_even_when_a_message_would_be_left() -> None:
    call = LoopCall(plan(voicemail=LEAVE), ScriptedLlm())
    await call.start()
    await call.frames(silence(300) + tone(1100, 500) + silence(500))
    assert call.session.ended_reason == "machine-detected"
    assert call.session.stats.answered_by == "fax"
    assert agent_audio(call) == 0


async def test_what_a_machine_says_is_transcribed_but_never_answered() -> None:
    llm = ScriptedLlm([say("Hi! How can I help?")])
    call = LoopCall(plan(voicemail=LEAVE), llm)
    await call.start()
    await call.caller_says("you have reached the voicemail of Dana")
    assert ("caller", "you have reached the voicemail of Dana") in call.recorder.lines
    assert llm.requests == [] and agent_audio(call) == 0
    await call.end()


async def test_the_message_follows_the_beep_and_ends_the_call() -> None:
    call = LoopCall(plan(voicemail=LEAVE), ScriptedLlm())
    await call.start()
    greeting = await asyncio.to_thread(machine_greeting)
    # Up to the last 100 ms of the beep: the machine is still talking, nothing is sent.
    await call.frames(greeting[: -8 * 100])
    assert call.session.stats.answered_by == "machine" and agent_audio(call) == 0
    await call.frames(greeting[-8 * 100 :] + silence(100))
    assert agent_audio(call) > 0
    await call.play_all()
    await settle()
    assert call.session.ended_reason == "voicemail"
    assert call.recorder.lines[-1] == ("agent", "Please call us back.")
    detection = call.session.stats.machine_detection
    assert detection is not None and detection["message_end"] == "beep"


async def test_the_carrier_s_verdict_replaces_listening() -> None:
    carrier = VoicemailPlan(detection="carrier", action="leave_message", message="Call us.")
    call = LoopCall(plan(voicemail=carrier), ScriptedLlm())
    await call.start()
    # The carrier decides; the loop's own detector is not running.
    await call.frames(await asyncio.to_thread(spoken, "Hello? Hello? Who is this calling me?"))
    assert agent_audio(call) == 0 and call.session.stats.answered_by is None
    assert call.session.screen is not None
    call.session.screen.carrier_detected("machine", "silence")
    await settle()
    await call.play_all()
    await settle()
    assert call.session.ended_reason == "voicemail"
    assert call.session.stats.machine_detection == {
        "by": "carrier",
        "reason": "carrier",
        "at_ms": 0,
        "message_end": "silence",
    }


async def test_the_hello_that_made_the_verdict_is_not_answered_but_what_follows_is() -> None:
    llm = ScriptedLlm([say("Great, let me tell you why I am calling.")])
    call = LoopCall(plan(voicemail=HANG_UP), llm)
    await call.start()
    await call.frames(await asyncio.to_thread(human_greeting))
    await call.play_all()
    assert call.session.stats.answered_by == "human"
    # The recogniser's final for "Hello?" arrives after the verdict: it was screening speech.
    await call.caller_says("hello")
    assert llm.requests == []
    assert ("caller", "hello") in call.recorder.lines
    await call.frames(await asyncio.to_thread(spoken, "Yes, who is this?"))
    await call.caller_says("yes who is this")
    assert len(llm.requests) == 1
    await call.end()
