"""A scenario's assertions, checked against what its call showed (``Observation``).

Each check reads the server's call record (what the agent said, the tools it ran, why the call
ended, its turns and their languages) or the caller's own timings (latency), and reports what
it found, passed or not, so a failure reads without opening the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aybiza.agents.eval_spec import EvalSpec, SaidExpectation, Scenario, ToolExpectation
from aybiza.evals.results import CheckResult, Observation
from aybiza.evals.similarity import contains_phrase, keyword_overlap, words
from aybiza.simulator.call_record import CallRecord


class SaidJudge(Protocol):
    """Decides whether one of the agent's lines says what a scenario expects."""

    name: str

    async def said(self, expected: str, lines: list[str], threshold: float) -> tuple[bool, str]:
        """(passed, what was found) for ``expected`` among ``lines``."""
        ...


class SimilarityJudge:
    """Keyword overlap (``evals.similarity``): the best line's share of expected keywords
    must reach the threshold."""

    name = "similarity"

    async def said(self, expected: str, lines: list[str], threshold: float) -> tuple[bool, str]:
        """(passed, the best line with its score and missing keywords)."""
        if not lines:
            return False, "the agent said nothing there"
        scored = [(keyword_overlap(expected, line), line) for line in lines]
        match, line = max(scored, key=lambda item: item[0].score)
        missing = f"; missing {', '.join(match.missing)}" if match.missing else ""
        verdict = "≥" if match.score >= threshold else "<"
        detail = f"best line {line!r} scored {match.score:.2f} {verdict} {threshold:.2f}{missing}"
        return match.score >= threshold, detail


async def check_scenario(
    spec: EvalSpec, scenario: Scenario, seen: Observation, judge: SaidJudge
) -> list[CheckResult]:
    """Every check the scenario asks for, in the spec's order; problems on the line (no
    answer, a stream closed abnormally, messages Twilio would reject) fail it too."""
    expect = scenario.expect
    record = seen.record
    results = [CheckResult("call", False, problem) for problem in seen.problems]
    results += [CheckResult("protocol", False, error) for error in seen.protocol_errors]
    for index, said in enumerate(expect.said):
        threshold = said.threshold or spec.threshold
        passed, detail = await judge.said(said.text, _lines(record, said), threshold)
        where = "anywhere" if said.turn is None else f"turn {said.turn}"
        results.append(CheckResult(f"said[{index}]", passed, f"{said.text!r} ({where}): {detail}"))
    agent_lines = _agent_lines(record)
    for index, phrase in enumerate(expect.not_said):
        hits = [line for line in agent_lines if contains_phrase(line, phrase)]
        detail = f"{phrase!r} said in {hits[0]!r}" if hits else f"{phrase!r} never said"
        results.append(CheckResult(f"not_said[{index}]", not hits, detail))
    for index, tool in enumerate(expect.tools):
        results.append(_tool_check(index, tool, record.tool_calls))
    called = [str(c.get("name")) for c in record.tool_calls]
    for index, name in enumerate(expect.tools_not_called):
        detail = f"{name} called" if name in called else f"{name} not called"
        results.append(CheckResult(f"tools_not_called[{index}]", name not in called, detail))
    if expect.ended_reason is not None:
        ok = record.ended_reason in expect.ended_reason
        wanted = " or ".join(expect.ended_reason)
        results.append(
            CheckResult("ended_reason", ok, f"ended {record.ended_reason!r}, expected {wanted}")
        )
    if expect.success is not None:
        results.append(_success_check(expect.success, record.analysis))
    if expect.turns is not None:
        count, low, high = len(record.turns), expect.turns.min, expect.turns.max
        ok = (low is None or count >= low) and (high is None or count <= high)
        bounds = f"{low if low is not None else 0}..{high if high is not None else '∞'}"
        results.append(CheckResult("turns", ok, f"{count} turns answered, expected {bounds}"))
    budget = spec.latency_budget_ms(scenario)
    if budget is not None:
        results.append(_latency_check(budget, seen.latencies_ms))
    if expect.languages is not None:
        heard = [str(turn.notes.get("language", "-")) for turn in record.turns]
        ok = heard == expect.languages
        detail = f"answered in {heard}, expected {expect.languages}"
        results.append(CheckResult("languages", ok, detail))
    return results


def _agent_lines(record: CallRecord) -> list[str]:
    return [line.text for line in record.transcript if line.speaker == "agent" and line.text]


def _lines(record: CallRecord, said: SaidExpectation) -> list[str]:
    """The agent's lines a ``said`` check reads: all of them, the greeting (turn 0: what it
    said before the caller's first line) or its answer to the caller's ``turn``-th line."""
    if said.turn is None:
        return _agent_lines(record)
    if said.turn == 0:
        greeting: list[str] = []
        for line in record.transcript:
            if line.speaker == "caller":
                break
            if line.text:
                greeting.append(line.text)
        return greeting
    turns = sorted(record.turns, key=lambda turn: turn.index)
    if said.turn > len(turns):
        return []
    turn = turns[said.turn - 1]
    # An interrupted answer counts only as far as the caller heard it.
    text = turn.heard_text if turn.interrupted else turn.agent_text
    return [text] if text else []


def _same(expected: Any, actual: Any) -> bool:
    """JSON values equal; strings compared by their words, any case."""
    if isinstance(expected, str) and isinstance(actual, str):
        return words(expected) == words(actual)
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return all(k in actual and _same(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(_same, expected, actual))
    return bool(expected == actual)


def _tool_check(index: int, tool: ToolExpectation, calls: list[dict[str, Any]]) -> CheckResult:
    named = [c for c in calls if c.get("name") == tool.name]
    check = f"tools[{index}]"
    if not named:
        ran = ", ".join(str(c.get("name")) for c in calls) or "none"
        return CheckResult(check, False, f"{tool.name} not called (tools called: {ran})")
    for call in named:
        if tool.arguments is not None and not _same(tool.arguments, call.get("arguments") or {}):
            continue
        if tool.outcome is not None and call.get("outcome") != tool.outcome:
            continue
        return CheckResult(
            check, True, f"{tool.name}({call.get('arguments')}) → {call.get('outcome')}"
        )
    found = "; ".join(f"({c.get('arguments')}) → {c.get('outcome')}" for c in named)
    wanted = f"arguments {tool.arguments}" if tool.arguments is not None else "any arguments"
    if tool.outcome is not None:
        wanted += f", outcome {tool.outcome}"
    return CheckResult(check, False, f"{tool.name} called with {found}; expected {wanted}")


def _success_check(expected: bool, analysis: dict[str, Any] | None) -> CheckResult:
    if analysis is None:
        return CheckResult("success", False, "no post-call analysis was recorded")
    actual = analysis.get("success")
    reason = analysis.get("success_reason") or ""
    detail = f"analysis says success={actual} ({reason}), expected {expected}"
    return CheckResult("success", actual is expected, detail)


def _latency_check(budget_ms: int, latencies: list[float | None]) -> CheckResult:
    answered = [(i + 1, ms) for i, ms in enumerate(latencies) if ms is not None]
    if not answered:
        return CheckResult("latency_ms", False, "no caller turn was answered")
    over = [(turn, ms) for turn, ms in answered if ms > budget_ms]
    worst_turn, worst = max(answered, key=lambda item: item[1])
    if over:
        listed = ", ".join(f"turn {t}: {ms:.0f} ms" for t, ms in over)
        return CheckResult("latency_ms", False, f"over the {budget_ms} ms budget: {listed}")
    detail = f"every answer within {budget_ms} ms (worst: turn {worst_turn}, {worst:.0f} ms)"
    return CheckResult("latency_ms", True, detail)
