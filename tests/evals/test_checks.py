"""A scenario's checks read the call record (and the caller's timings) and say what they found."""

from __future__ import annotations

from typing import Any

from aybiza.agents.eval_spec import validate_eval_spec
from aybiza.evals.checks import SimilarityJudge, check_scenario
from aybiza.evals.results import CheckResult, Observation
from aybiza.simulator.call_record import parse_call_record

RECORD: dict[str, Any] = {
    "call_sid": "CA" + "1" * 32,
    "status": "completed",
    "ended_reason": "transferred",
    "agent": {"id": "a" * 32, "name": "Desk", "version": "1.1.0"},
    "transcript": [
        {"speaker": "agent", "text": "Hello, how can I help?", "at": "t"},
        {"speaker": "caller", "text": "book an appointment", "at": "t"},
        {"speaker": "agent", "text": "What day and time would suit you?", "at": "t"},
        {"speaker": "caller", "text": "quisiera una cita mañana", "at": "t"},
        {"speaker": "agent", "text": "Claro, mañana por la mañana.", "at": "t"},
    ],
    "turns": [
        {
            "index": 1,
            "user_text": "book",
            "agent_text": "What day and time would suit you?",
            "heard_text": "What day and time would suit you?",
            "notes": {"language": "en-US"},
        },
        {
            "index": 2,
            "user_text": "quisiera",
            "agent_text": "Claro, mañana por la mañana.",
            "heard_text": "Claro, mañana",
            "interrupted": True,
            "notes": {"language": "es-ES"},
        },
    ],
    "tool_calls": [
        {
            "name": "book_appointment",
            "arguments": {"when": "Tomorrow  morning", "n": 2},
            "outcome": "ok",
        },
    ],
    "analysis": {"success": True, "success_reason": "booked"},
}


async def checks(expect: dict[str, Any], **observed: Any) -> list[CheckResult]:
    spec = validate_eval_spec(
        {
            "scenarios": [{"name": "s", "caller": [{"say": "x"}], "expect": expect}],
            **observed.pop("suite", {}),
        }
    )
    seen = Observation(
        RECORD["call_sid"],
        parse_call_record(RECORD),
        latencies_ms=observed.get("latencies", [640.0, 910.0]),
        problems=observed.get("problems", []),
    )
    return await check_scenario(spec, spec.scenarios[0], seen, SimilarityJudge())


def verdicts(results: list[CheckResult]) -> dict[str, bool]:
    return {result.check: result.passed for result in results}


async def test_said_reads_any_line_the_greeting_or_one_turn_as_heard() -> None:
    results = await checks(
        {
            "said": [
                "what time suits you",
                {"text": "how can I help", "turn": 0},
                {"text": "Claro mañana", "turn": 2},
                {"text": "por la mañana", "turn": 2},  # cut off by the caller: not heard
                {"text": "anything", "turn": 5},
            ]
        }
    )
    assert verdicts(results) == {
        "said[0]": True,
        "said[1]": True,
        "said[2]": True,
        "said[3]": False,
        "said[4]": False,
    }
    assert "missing por" in results[3].detail
    assert results[4].detail.endswith("the agent said nothing there")


async def test_tools_match_on_name_arguments_subset_and_outcome() -> None:
    results = await checks(
        {
            "tools": [
                {"name": "book_appointment", "arguments": {"when": "tomorrow morning"}},
                {"name": "book_appointment", "outcome": "http_error"},
                {"name": "send_sms"},
            ],
            "tools_not_called": ["book_appointment", "transfer_call"],
        }
    )
    assert verdicts(results) == {
        "tools[0]": True,
        "tools[1]": False,
        "tools[2]": False,
        "tools_not_called[0]": False,
        "tools_not_called[1]": True,
    }
    assert "expected any arguments, outcome http_error" in results[1].detail
    assert results[2].detail == "send_sms not called (tools called: book_appointment)"


async def test_outcome_turns_success_and_languages() -> None:
    results = await checks(
        {
            "ended_reason": ["agent-ended", "transferred"],
            "success": True,
            "turns": {"max": 1},
            "languages": ["en-US", "es-ES"],
            "not_said": ["por la mañana", "goodbye"],
        }
    )
    assert verdicts(results) == {
        "not_said[0]": False,
        "not_said[1]": True,
        "ended_reason": True,
        "success": True,
        "turns": False,
        "languages": True,
    }
    assert results[4].detail == "2 turns answered, expected 0..1"


async def test_the_latency_budget_applies_to_each_answered_turn() -> None:
    within = await checks({}, suite={"latency_ms": 1000}, latencies=[640.0, None, 910.0])
    assert within == [
        CheckResult("latency_ms", True, "every answer within 1000 ms (worst: turn 3, 910 ms)")
    ]
    over = await checks({"latency_ms": 700}, suite={"latency_ms": 5000})
    assert over == [CheckResult("latency_ms", False, "over the 700 ms budget: turn 2: 910 ms")]


async def test_problems_on_the_line_fail_the_scenario() -> None:
    results = await checks({}, problems=["tomorrow: nothing from the agent within 30 s"])
    assert results == [CheckResult("call", False, "tomorrow: nothing from the agent within 30 s")]
