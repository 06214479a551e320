"""``aybiza eval [SPEC]``: run an eval suite against an agent and report (docs/evals.md).

Without ``--url`` the run starts its own server (``LocalServer``) and calls the demo agent or
the agent file the suite names; with ``--url`` it calls ``--agent`` (a number pinned to the
version is registered for the run) or ``--to``. ``--record`` stores the run on the server for
the publish gate. The exit code is 1 when a scenario failed, 2 for bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from aybiza.agents.eval_spec import DEMO_AGENT_REF, EvalSpec
from aybiza.config import Settings
from aybiza.evals.html_report import write_html
from aybiza.evals.junit import write_junit
from aybiza.evals.local_server import LocalServer, ServerAccess, ServerStartError
from aybiza.evals.results import ScenarioResult, SuiteResult
from aybiza.evals.server_api import CallTarget, ServerApi, ServerApiError
from aybiza.evals.spec_file import SpecFileError, load_agent, load_spec, spec_from_document
from aybiza.simulator.call_record import demo_key_file, resolve_api_key
from aybiza.simulator.script import ScriptTiming

Engines = Literal["auto", "embedded"]


class EvalUsageError(Exception):
    """The options do not make a run; the message says which and why."""


def eval_command(
    spec: Annotated[
        Path | None,
        typer.Argument(
            help="The suite (YAML, or JSON for .json). Omit it with --url and --agent to run "
            "the agent's stored suite.",
            dir_okay=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="A running server (default: start one for the run)."),
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="The agent id on --url to evaluate.")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Its version (default: the latest).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Ring this number instead of --agent's.")
    ] = None,
    record: Annotated[
        bool,
        typer.Option("--record", help="Record the run on --url (the publish gate reads it)."),
    ] = False,
    junit: Annotated[
        Path, typer.Option("--junit", help="Where to write the JUnit XML report.")
    ] = Path("eval-results/junit.xml"),
    html: Annotated[Path, typer.Option("--html", help="Where to write the HTML report.")] = Path(
        "eval-results/report.html"
    ),
    engines: Annotated[
        str,
        typer.Option(
            "--engines",
            help="The run's own server: 'auto' (cloud engines when configured) or 'embedded'.",
        ),
    ] = "auto",
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", help="API key for --url (default: $AYBIZA_API_KEY, then demo.key)."
        ),
    ] = None,
    auth_token: Annotated[
        str | None,
        typer.Option("--auth-token", envvar="TWILIO_AUTH_TOKEN", help="--url's Twilio auth token."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds to wait for each answer.")
    ] = 30.0,
) -> None:
    """Run scripted and simulated callers against an agent and check every scenario."""
    console = Console()
    try:
        plan = plan_run(spec, url, agent, version, to, record, engines)
    except EvalUsageError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except SpecFileError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from exc
    options = RunOptions(
        junit=junit, html=html, api_key=api_key, auth_token=auth_token, timeout_s=timeout
    )
    raise typer.Exit(asyncio.run(run_eval(console, plan, options)))


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What the options ask for, checked before anything starts."""

    spec_path: Path | None
    spec: EvalSpec | None
    url: str | None
    agent: str | None
    version: str | None
    to: str | None
    record: bool
    engines: Engines


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Where the reports go and how to reach a ``--url`` server."""

    junit: Path
    html: Path
    api_key: str | None
    auth_token: str | None
    timeout_s: float


def plan_run(
    spec_path: Path | None,
    url: str | None,
    agent: str | None,
    version: str | None,
    to: str | None,
    record: bool,
    engines: str,
) -> RunPlan:
    """Check the options (``EvalUsageError`` says what does not fit) and read the suite file
    (``SpecFileError``)."""
    if engines not in ("auto", "embedded"):
        raise EvalUsageError(f"--engines: expected 'auto' or 'embedded', received {engines!r}")
    if url is None and (agent or to):
        raise EvalUsageError(
            "--agent and --to name an agent or number on a running server: give its --url "
            "(the run's own server has only the demo agent and the suite's agent file)"
        )
    if version is not None and agent is None:
        raise EvalUsageError("--version needs --agent")
    if record and url is None:
        raise EvalUsageError(
            "--record stores the run on a server for its publish gate: give --url (the run's "
            "own server is discarded at the end)"
        )
    if spec_path is None and agent is None:
        raise EvalUsageError("give a SPEC file, or --url and --agent to run the stored suite")
    spec = load_spec(spec_path) if spec_path is not None else None
    own_agent = spec is not None and spec.agent not in (None, DEMO_AGENT_REF)
    if own_agent and url is not None and agent is None and to is None:
        assert spec is not None
        raise EvalUsageError(
            f"the suite names agent file {spec.agent!r}, which is created only on the run's "
            "own server: with --url, pass --agent ID (or --to NUMBER)"
        )
    mode: Engines = "embedded" if engines == "embedded" else "auto"
    return RunPlan(spec_path, spec, url, agent, version, to, record, mode)


async def run_eval(console: Console, plan: RunPlan, options: RunOptions) -> int:
    """Run the plan; the exit code (0 passed, 1 a scenario failed or the run could not go on)."""
    try:
        async with _server(console, plan, options) as access, ServerApi(access) as api:
            spec = plan.spec or spec_from_document(
                await api.stored_suite(str(plan.agent)), f"agent {plan.agent}'s stored suite"
            )
            target = await _target(api, plan, spec)
            result = await _run_suite(console, spec, access, target, options)
            _write_reports(console, result, options)
            if plan.record:
                await _record(console, api, result)
    except (ServerStartError, ServerApiError, SpecFileError) as exc:
        console.print(f"[red]✗ {escape(str(exc))}[/red]", soft_wrap=True)
        return 1
    return 1 if result.failed else 0


@contextlib.asynccontextmanager
async def _server(
    console: Console, plan: RunPlan, options: RunOptions
) -> AsyncIterator[ServerAccess]:
    if plan.url is not None:
        key = resolve_api_key(options.api_key)
        if key is None:
            raise ServerApiError(
                f"no API key for {plan.url} (--api-key, $AYBIZA_API_KEY or {demo_key_file()})"
            )
        yield ServerAccess(plan.url.rstrip("/"), key, options.auth_token)
        return
    async with contextlib.AsyncExitStack() as stack:
        with console.status(f"starting a server for the run ({plan.engines} engines)"):
            server = await stack.enter_async_context(
                LocalServer(embedded=plan.engines == "embedded")
            )
        assert server.access is not None
        yield server.access


async def _target(api: ServerApi, plan: RunPlan, spec: EvalSpec) -> CallTarget:
    if plan.to is not None:
        return CallTarget(plan.to, plan.agent, plan.version, f"number {plan.to}")
    if plan.agent is not None:
        return await api.existing(plan.agent, plan.version)
    if spec.agent not in (None, DEMO_AGENT_REF):
        assert plan.spec_path is not None and spec.agent is not None
        return await api.create_agent(load_agent(plan.spec_path, spec.agent))
    return api.demo()


async def _run_suite(
    console: Console, spec: EvalSpec, access: ServerAccess, target: CallTarget, options: RunOptions
) -> SuiteResult:
    # Imported here: the runner loads the engines' libraries, which `aybiza --help` need not.
    from aybiza.evals.model import EvalModel
    from aybiza.evals.runner import RunSettings, SuiteRunner

    model = EvalModel(Settings.from_env(), spec.caller_model)
    settings = RunSettings(ScriptTiming(answer_timeout_s=options.timeout_s), model)
    runner = SuiteRunner(spec, access, target, settings)
    result = runner.new_result()
    console.print(
        f"[bold]{escape(spec.name)}[/bold]: {len(spec.scenarios)} scenarios against "
        f"{escape(result.target)}"
    )
    if not model.available and any(runner.skip_reason(s) for s in spec.scenarios):
        reason = escape(model.unavailable_reason)
        console.print(f"[yellow]{reason}: the scenarios that need one are skipped[/yellow]")
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("", total=len(spec.scenarios))
            for scenario in spec.scenarios:

                def step(message: str, done: bool, name: str = scenario.name) -> None:
                    progress.update(task, description=f"{name}: {message}")

                scenario_result = await runner.run(scenario, step)
                result.scenarios.append(scenario_result)
                progress.console.print(_line(scenario_result))
                progress.advance(task)
    finally:
        await runner.aclose()
    result.duration_s = round(loop.time() - started, 2)
    if result.agent_id is None:
        # Ringing the demo's or a --to number: the calls' records say which version answered.
        ran = next((s for s in result.scenarios if s.agent_id), None)
        if ran is not None:
            result.agent_id, result.agent_version = ran.agent_id, ran.agent_version
    return result


def _line(scenario: ScenarioResult) -> str:
    """How the console shows a finished scenario: its mark, then each failure beneath."""
    name = escape(scenario.name)
    if scenario.status == "skipped":
        return f"[yellow]○ {name}[/yellow] skipped: {escape(scenario.skipped_reason or '')}"
    if scenario.status == "passed":
        return (
            f"[green]✓ {name}[/green] ({len(scenario.checks)} checks, {scenario.duration_s:.1f} s)"
        )
    lines = [f"[red]✗ {name}[/red] ({scenario.duration_s:.1f} s)"]
    lines += [f"    [red]{escape(failure)}[/red]" for failure in scenario.failures]
    return "\n".join(lines)


def _write_reports(console: Console, result: SuiteResult, options: RunOptions) -> None:
    write_junit(result, options.junit)
    write_html(result, options.html)
    passed, failed, skipped = (result.count(s) for s in ("passed", "failed", "skipped"))
    colour = "red" if failed else "green"
    console.print(
        f"[{colour}]{passed} passed, {failed} failed, {skipped} skipped[/{colour}] in "
        f"{result.duration_s:.1f} s · reports: {escape(str(options.junit))}, "
        f"{escape(str(options.html))}"
    )


async def _record(console: Console, api: ServerApi, result: SuiteResult) -> None:
    if result.agent_id is None or result.agent_version is None:
        raise ServerApiError(
            "cannot record: the run does not know which agent version it called "
            "(record runs started with --agent)"
        )
    stored = await api.record_run(result.agent_id, result.agent_version, run_payload(result))
    verdict = "[green]passed[/green]" if stored["passed"] else "[red]did not pass[/red]"
    console.print(
        f"recorded run {escape(str(stored['id']))} for {escape(result.agent_id)} "
        f"{escape(result.agent_version)}: {verdict}"
    )


def run_payload(result: SuiteResult) -> dict[str, Any]:
    """The body of ``POST /v1/agents/{id}/versions/{v}/eval-runs`` for ``result``."""
    engines = next((s.engines for s in result.scenarios if s.engines), {})
    return {
        "suite_digest": result.digest,
        "engines": engines,
        "scenarios": [
            {
                "name": s.name,
                "status": s.status,
                "call_sid": s.call_sid,
                "failures": [f[:2000] for f in s.failures[:100]],
                "skipped_reason": (s.skipped_reason or "")[:500] or None,
                "duration_s": s.duration_s,
            }
            for s in result.scenarios
        ],
    }
