"""``aybiza eval`` end to end: its own server on the embedded engines, real calls through the
Twilio simulator, a persona played by a model (a faithful fake of Anthropic's API), a failing
assertion reported in JUnit XML; and against a running server, a recorded run opening the
publish gate."""

from __future__ import annotations

import asyncio
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from tests.e2e.server_process import running_server
from tests.fakes.anthropic import DEFAULT_API_KEY, FakeAnthropic
from tests.fakes.llm_server import Reply
from typer.testing import CliRunner

from aybiza.agents.demo import DEMO_AGENT
from aybiza.agents.eval_spec import validate_eval_spec
from aybiza.cli import app
from aybiza.config import Settings
from aybiza.evals.command import RunOptions, plan_run, run_eval
from aybiza.evals.local_server import CLOUD_VARIABLES, ServerAccess
from aybiza.evals.model import EvalModel
from aybiza.evals.runner import RunSettings, SuiteRunner
from aybiza.evals.server_api import CallTarget
from aybiza.simulator.script import ScriptTiming

DEMO_SPEC = Path(__file__).parents[1] / "data" / "evals" / "demo.yaml"


@pytest.fixture
def no_cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the eval nor its server finds a cloud engine on this machine."""
    for name in CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AYBIZA_API_KEY", raising=False)


def options(tmp_path: Path, **access: str) -> RunOptions:
    return RunOptions(
        junit=tmp_path / "junit.xml",
        html=tmp_path / "report.html",
        api_key=access.get("api_key"),
        auth_token=access.get("auth_token"),
        timeout_s=30.0,
    )


@pytest.mark.usefixtures("no_cloud")
async def test_the_demo_suite_runs_on_its_own_server_and_reports_the_failing_assertion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller_model = FakeAnthropic()
    caller_model.script(Reply(text="What are your opening hours?"), Reply(text="[hang up]"))
    async with caller_model:
        # The persona's model; the run's server gets no cloud engine (--engines embedded).
        monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("AYBIZA_ANTHROPIC_BASE_URL", caller_model.url)
        output = io.StringIO()
        plan = plan_run(DEMO_SPEC, None, None, None, None, False, "embedded")
        code = await run_eval(Console(file=output, width=200), plan, options(tmp_path))
    printed = output.getvalue()
    assert code == 1, printed
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    for passed in ("books an appointment", "a caller asks for the hours"):
        assert cases[passed].find("failure") is None, cases[passed].findtext("system-out")
    failure = cases["opening hours"].find("failure")
    assert failure is not None
    assert failure.get("message") == (
        "said[0]: 'We are closed on Sundays' (anywhere): best line 'We are open Monday to "
        "Friday, nine to five, and closed at weekends. Is there anything else I can help "
        "with?' scored 0.50 < 0.60; missing sunday"
    )
    # The model played the persona from the agent's words, and hung up when it had its answer.
    assert len(caller_model.requests) == 2
    first, second = caller_model.requests
    assert "You want to know when ACME is open" in str(first.body["system"])
    assert "We are open Monday to Friday" in str(second.body["messages"])
    persona_out = cases["a caller asks for the hours"].findtext("system-out") or ""
    assert "caller: what are your opening hours" in persona_out
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "missing sunday" in page and "<script" not in page
    assert "1 failed" in printed and "✓ books an appointment" in printed


@pytest.mark.usefixtures("no_cloud")
async def test_a_recorded_run_opens_the_publish_gate(tmp_path: Path) -> None:
    server_cm = running_server(tmp_path)
    server = await asyncio.to_thread(server_cm.__enter__)
    try:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
            agent = (await http.post("/v1/agents", json={**DEMO_AGENT, "name": "Gate"})).json()
            suite = {
                "name": "gate",
                "scenarios": [
                    {
                        "name": "opening hours",
                        "caller": [{"say": "opening hours"}],
                        "expect": {"said": "We are open Monday to Friday", "turns": 1},
                    }
                ],
            }
            stored = await http.put(
                f"/v1/agents/{agent['id']}/eval-suite", json={"required": True, "suite": suite}
            )
            assert stored.status_code == 200, stored.text
            greeting = "Hello, this is ACME. How can I help you today?"
            body = {**DEMO_AGENT, "name": "Gate", "version": "1.1.0", "greeting": greeting}
            assert (await http.put(f"/v1/agents/{agent['id']}", json=body)).status_code == 200
            publish = {"version": "1.1.0"}
            refused = await http.post(f"/v1/agents/{agent['id']}/publish", json=publish)
            assert refused.status_code == 409
            assert refused.json()["error"]["code"] == "eval_required"

            output = io.StringIO()
            plan = plan_run(None, server.base_url, agent["id"], "1.1.0", None, True, "auto")
            access = {"api_key": server.api_key, "auth_token": server.auth_token}
            code = await run_eval(
                Console(file=output, width=200), plan, options(tmp_path, **access)
            )
            assert code == 0, output.getvalue()
            assert "recorded run" in output.getvalue()

            published = await http.post(f"/v1/agents/{agent['id']}/publish", json=publish)
            assert published.status_code == 200, published.text
            runs = (await http.get(f"/v1/agents/{agent['id']}/versions/1.1.0/eval-runs")).json()
            [run] = runs["data"]
            assert run["passed"] and run["suite_digest"] == stored.json()["digest"]
            call_sid = run["results"][0]["call_sid"]
            record = (await http.get(f"/v1/calls/{call_sid}")).json()
            # The call reached the unpublished version through a number pinned to it, which
            # the run removed afterwards.
            assert record["agent"]["version"] == "1.1.0"
            assert record["transcript"][0]["text"] == greeting
            numbers = (await http.get("/v1/phone-numbers")).json()["data"]
            assert not [n for n in numbers if n["number"].startswith("+1555019")]
    finally:
        await asyncio.to_thread(server_cm.__exit__, None, None, None)


def test_scenarios_needing_a_model_are_skipped_with_the_reason_when_none_is_configured() -> None:
    spec = validate_eval_spec(
        {
            "judge": "llm",
            "scenarios": [
                {"name": "persona", "persona": "You want the hours."},
                {"name": "judged", "caller": [{"say": "hours"}], "expect": {"said": "open"}},
                {"name": "scripted", "caller": [{"say": "hours"}], "expect": {"turns": 1}},
            ],
        }
    )
    model = EvalModel(Settings(), spec.caller_model)
    runner = SuiteRunner(
        spec,
        ServerAccess("http://127.0.0.1:9", "key", None),
        CallTarget("+15005550006", None, None, "demo"),
        RunSettings(ScriptTiming(), model),
    )
    reasons = [runner.skip_reason(scenario) for scenario in spec.scenarios]
    assert reasons[0] is not None and reasons[0].startswith(
        "its caller is a persona played by a language model, and no language model is "
        "configured (set ANTHROPIC_API_KEY"
    )
    assert reasons[1] is not None and reasons[1].startswith("its 'said' checks use the LLM judge")
    assert reasons[2] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--record"], "--record stores the run on a server"),
        (["--agent", "a1"], "--agent and --to name an agent or number on a running server"),
        (["--url", "http://127.0.0.1:9", "--version", "1.0.0"], "--version needs --agent"),
        (["--engines", "cloud"], "--engines: expected 'auto' or 'embedded'"),
    ],
)
def test_options_that_do_not_make_a_run_are_refused(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", str(DEMO_SPEC), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_a_bad_suite_file_is_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    spec = tmp_path / "suite.yaml"
    spec.write_text("scenarios:\n  - name: x\n    caller:\n      - dtmf: 12a\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", str(spec)])
    assert result.exit_code == 2
    assert f"{spec}: invalid eval suite (1 error):" in result.output
    assert "scenarios.0.caller.0.dtmf: expected 1 to 32 keys among 0-9, * and #" in result.output
