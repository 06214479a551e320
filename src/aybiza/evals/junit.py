"""The run as JUnit XML, the format CI systems read: one ``testsuite`` for the suite, one
``testcase`` per scenario with a ``failure`` (every failed check) or ``skipped`` (why), and the
call's transcript and per-turn latency in ``system-out``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from aybiza.evals.results import ScenarioResult, SuiteResult


def junit_xml(result: SuiteResult) -> str:
    """The XML document for ``result``."""
    root = ET.Element("testsuites", _counts(result))
    suite = ET.SubElement(root, "testsuite", {"name": result.name, **_counts(result)})
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("suite_digest", result.digest),
        ("target", result.target),
        ("agent_id", result.agent_id),
        ("agent_version", result.agent_version),
    ):
        if value:
            ET.SubElement(properties, "property", {"name": name, "value": value})
    for scenario in result.scenarios:
        _testcase(suite, result.name, scenario)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(result: SuiteResult, path: Path) -> None:
    """Write ``junit_xml(result)`` to ``path`` (its folder created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(result), encoding="utf-8")


def _counts(result: SuiteResult) -> dict[str, str]:
    return {
        "tests": str(len(result.scenarios)),
        "failures": str(result.count("failed")),
        "errors": "0",
        "skipped": str(result.count("skipped")),
        "time": f"{result.duration_s:.2f}",
    }


def _testcase(parent: ET.Element, suite: str, scenario: ScenarioResult) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        {
            "classname": f"aybiza.eval.{suite}",
            "name": scenario.name,
            "time": f"{scenario.duration_s:.2f}",
        },
    )
    if scenario.status == "skipped":
        ET.SubElement(case, "skipped", {"message": scenario.skipped_reason or "skipped"})
    elif scenario.status == "failed":
        failures = scenario.failures
        failure = ET.SubElement(
            case,
            "failure",
            {"message": failures[0] if failures else "failed", "type": "EvalFailure"},
        )
        failure.text = "\n".join(failures)
    out = [f"call {scenario.call_sid}"] if scenario.call_sid else []
    out += [f"{'✓' if c.passed else '✗'} {c}" for c in scenario.checks]
    out += [f"{speaker}: {text}" for speaker, text in scenario.transcript]
    answered = ", ".join("-" if ms is None else f"{ms:.0f}" for ms in scenario.latencies_ms)
    if answered:
        out.append(f"voice-to-voice ms per caller turn: {answered}")
    if out:
        ET.SubElement(case, "system-out").text = "\n".join(out)
