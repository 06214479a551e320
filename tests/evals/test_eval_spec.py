"""The eval suite schema: shorthands, defaults, one caller per scenario, a digest of meaning."""

from __future__ import annotations

from typing import Any

import pytest

from aybiza.agents.eval_spec import EvalSpecError, suite_digest, validate_eval_spec


def suite(**scenario: Any) -> dict[str, Any]:
    return {"scenarios": [{"name": "one", "caller": [{"say": "hi"}], **scenario}]}


def test_shorthands_mean_their_long_forms() -> None:
    short = validate_eval_spec(
        suite(expect={"said": "Hello", "ended_reason": "agent-ended", "turns": 2})
    )
    long = validate_eval_spec(
        suite(
            expect={
                "said": [{"text": "Hello"}],
                "ended_reason": ["agent-ended"],
                "turns": {"min": 2, "max": 2},
            }
        )
    )
    assert short == long
    assert suite_digest(short) == suite_digest(long)


def test_the_digest_ignores_spelt_out_defaults_and_the_agent_but_not_a_change() -> None:
    plain = validate_eval_spec(suite())
    spelt = validate_eval_spec({**suite(), "threshold": 0.6, "agent": "demo"})
    changed = validate_eval_spec({**suite(), "threshold": 0.7})
    assert suite_digest(plain) == suite_digest(spelt) != suite_digest(changed)
    assert suite_digest(plain).startswith("sha256:") and len(suite_digest(plain)) == 71


@pytest.mark.parametrize(
    ("scenario", "path", "message"),
    [
        ({"caller": [{"say": "hi", "dtmf": "1"}]}, "scenarios.0.caller.0", "exactly one of"),
        ({"caller": [{"dtmf": "1", "language": "es-ES"}]}, "scenarios.0.caller.0.language", ""),
        ({"caller": [], "persona": None}, "scenarios.0.caller", "at least one step"),
        ({"persona": "a caller"}, "scenarios.0.caller", "exactly one of 'caller' or 'persona'"),
        ({"expect": {"latency_ms": 0}}, "scenarios.0.expect.latency_ms", "greater than 0"),
        (
            {"expect": {"said": [{"text": "x", "threshold": 2}]}},
            "scenarios.0.expect.said.0.threshold",
            "",
        ),
        ({"expect": {"languages": ["spanish"]}}, "scenarios.0.expect.languages.0", "BCP 47"),
        ({"expect": {"tool": []}}, "scenarios.0.expect.tool", "eval suite (docs/evals.md)"),
    ],
)
def test_each_problem_is_named_by_its_path(
    scenario: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(EvalSpecError) as caught:
        validate_eval_spec(suite(**scenario))
    errors = {error.path: error.message for error in caught.value.errors}
    assert path in errors, errors
    assert message in errors[path]


def test_scenario_names_are_unique_and_a_suite_is_an_object() -> None:
    twice = {"scenarios": [{"name": "a", "caller": [{"say": "x"}]}] * 2}
    with pytest.raises(EvalSpecError, match=r"scenarios.1.name: repeats the name of scenario 0"):
        validate_eval_spec(twice)
    with pytest.raises(EvalSpecError, match="expected an object with 'scenarios'"):
        validate_eval_spec(["not", "a", "suite"])
