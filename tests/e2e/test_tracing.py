"""A real call's trace, exported over OTLP/HTTP to a collector on this machine: one ``call``
span, a ``turn`` span per caller turn under it, and under every turn the stages it ran (``stt``
for spoken turns, ``llm``, ``tts``, and ``tool`` for the booking and the text message), each
carrying the call id and its turn's index."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tests.fakes.otlp_collector import FakeOtlpCollector, ReceivedSpan

from .demo_stack import book_then_ask_for_a_person, demo_stack

CALL_ID = "aybiza.call_id"
TURN_INDEX = "aybiza.turn_index"


async def test_every_stage_of_a_call_is_a_span_with_the_call_id(tmp_path: Path) -> None:
    async with FakeOtlpCollector() as collector:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_SERVICE_NAME": "aybiza-e2e",
            # Export every 100 ms instead of every 5 s.
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        async with demo_stack(tmp_path, env) as stack:
            record = await book_then_ask_for_a_person(stack)
            call_id = str(record["id"])
            assert record["ended_reason"] == "transferred"
            # The call span ends last: once it is exported, every span of the call was.
            spans = await collector.wait_for(lambda spans: _has_call(spans, call_id))

    mine = [s for s in spans if s.attributes.get(CALL_ID) == call_id]
    [call] = [s for s in mine if s.name == "call"]
    assert call.parent_span_id == ""
    assert call.attributes["aybiza.ended_reason"] == "transferred"
    assert call.resource["service.name"] == "aybiza-e2e"
    assert {s.trace_id for s in mine} == {call.trace_id}
    assert all(s.start_ns <= s.end_ns for s in mine)

    turns = {s.span_id: s for s in mine if s.name == "turn"}
    assert all(t.parent_span_id == call.span_id for t in turns.values())
    # Two spoken turns (book, "tomorrow morning") and the keyed 0 for a person.
    inputs = sorted(
        (t.attributes[TURN_INDEX], t.attributes["aybiza.input"]) for t in turns.values()
    )
    assert inputs == [(1, "speech"), (2, "speech"), (3, "keypad")]

    stages: dict[int, list[str]] = defaultdict(list)
    for span in mine:
        if span.name in ("call", "turn", "greeting"):
            continue
        parent = turns[span.parent_span_id]
        assert span.attributes[TURN_INDEX] == parent.attributes[TURN_INDEX], span
        assert parent.start_ns <= span.start_ns and span.end_ns <= parent.end_ns, span
        stages[int(span.attributes[TURN_INDEX])].append(span.name)
    for index in (1, 2):
        assert {"stt", "llm", "tts"} <= set(stages[index]), stages
    assert "stt" not in stages[3] and "llm" in stages[3], stages
    tools = [s.attributes["aybiza.tool"] for s in mine if s.name == "tool"]
    assert tools == ["book_appointment", "send_sms"]
    assert all(s.attributes[TURN_INDEX] == 2 for s in mine if s.name == "tool")
    assert all(s.attributes["aybiza.tool_error"] is False for s in mine if s.name == "tool")
    [greeting] = [s for s in mine if s.name == "greeting"]
    assert greeting.parent_span_id == call.span_id


def _has_call(spans: list[ReceivedSpan], call_id: str) -> bool:
    return any(s.name == "call" and s.attributes.get(CALL_ID) == call_id for s in spans)
