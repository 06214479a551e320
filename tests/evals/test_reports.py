"""The reports: JUnit XML that CI systems read, and one self-contained HTML page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from aybiza.evals.html_report import html_report, write_html
from aybiza.evals.junit import junit_xml, write_junit
from aybiza.evals.results import CheckResult, ScenarioResult, SuiteResult


def result() -> SuiteResult:
    suite = SuiteResult(
        "ACME <demo>", "sha256:" + "ab" * 32, "the demo agent at http://127.0.0.1:1"
    )
    suite.duration_s = 41.5
    suite.scenarios = [
        ScenarioResult(
            "books",
            "passed",
            call_sid="CA1",
            checks=[CheckResult("said[0]", True, "best line 'When?' scored 1.00 ≥ 0.60")],
            duration_s=20.0,
            transcript=[("agent", "Hello"), ("caller", "book <now> & then")],
            latencies_ms=[640.0, None],
        ),
        ScenarioResult(
            "hours",
            "failed",
            call_sid="CA2",
            checks=[
                CheckResult(
                    "said[0]", False, "best line 'open' scored 0.50 < 0.60; missing sunday"
                ),
                CheckResult("ended_reason", True, "ended 'caller-hangup'"),
            ],
            errors=["the server closed the stream with code 1011 (boom)"],
            duration_s=11.5,
        ),
        ScenarioResult("persona", "skipped", skipped_reason="no language model is configured"),
    ]
    return suite


def test_junit_has_a_testcase_per_scenario_with_failures_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "out" / "junit.xml"
    write_junit(result(), path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    wanted = {
        "name": "ACME <demo>",
        "tests": "3",
        "failures": "1",
        "skipped": "1",
    }
    assert {key: suite.get(key) for key in wanted} == wanted
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["books"].find("failure") is None and cases["books"].find("skipped") is None
    failure = cases["hours"].find("failure")
    assert failure is not None
    assert failure.get("message") == "the server closed the stream with code 1011 (boom)"
    assert failure.text == (
        "the server closed the stream with code 1011 (boom)\n"
        "said[0]: best line 'open' scored 0.50 < 0.60; missing sunday"
    )
    skipped = cases["persona"].find("skipped")
    assert skipped is not None and skipped.get("message") == "no language model is configured"
    out = cases["books"].findtext("system-out") or ""
    assert "caller: book <now> & then" in out and "per caller turn: 640, -" in out
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["suite_digest"] == "sha256:" + "ab" * 32


def test_the_html_page_is_self_contained_and_escapes_what_callers_said(tmp_path: Path) -> None:
    page = html_report(result())
    assert "book &lt;now&gt; &amp; then" in page and "<now>" not in page
    assert "ACME &lt;demo&gt;" in page
    # Nothing is fetched: no script, stylesheet link, image or remote URL in an attribute.
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r"(src|href)\s*=", page)
    assert "1 passed" in page and "1 failed" in page and "1 skipped" in page
    write_html(result(), tmp_path / "r" / "report.html")
    assert (tmp_path / "r" / "report.html").read_text(encoding="utf-8") == page


def test_a_run_fails_only_when_a_scenario_failed() -> None:
    run = result()
    assert run.failed
    run.scenarios = [s for s in run.scenarios if s.status != "failed"]
    assert not run.failed and 'failures="0"' in junit_xml(run)
