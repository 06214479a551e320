"""Agents' eval suites and the runs recorded against their versions (docs/evals.md).

An agent keeps one suite for all its versions; ``required`` makes publishing a version wait
for a passing run of it (``aybiza.services.eval_gate``). A run is recorded by ``aybiza eval
--record`` after it placed its calls; the record is evidence the server checks rather than
takes on trust: it must be of the agent's current suite, name a result for every scenario,
and every call it names must be a finished call of this tenant that ran this agent version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.errors import FieldError
from aybiza.agents.eval_spec import EvalSpecError, suite_digest, validate_eval_spec
from aybiza.errors import Conflict, Invalid, NotFound
from aybiza.services.agents import agent_repository, version_row
from aybiza.store.database import Database
from aybiza.store.eval_models import AgentEvalSuite, EvalRun
from aybiza.store.models import Agent, Call, utcnow
from aybiza.store.paging import Page
from aybiza.store.tenant_repository import TenantRepository

ScenarioStatus = Literal["passed", "failed", "skipped"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EvalSuiteIn(_Body):
    """An agent's suite and whether publishing a version needs a passing run of it."""

    required: bool = Field(
        default=False, description="Publishing a version needs a passing run of this suite."
    )
    suite: dict[str, Any] = Field(description="The eval suite (docs/evals.md), without 'agent'.")


class ScenarioResult(_Body):
    """What one scenario of a run came to."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    status: ScenarioStatus
    call_sid: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    failures: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default_factory=list, max_length=100, description="Each failed check, in words."
    )
    skipped_reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    duration_s: float | None = Field(default=None, ge=0)


class EvalRunIn(_Body):
    """A finished run as ``aybiza eval --record`` reports it."""

    suite_digest: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
    scenarios: list[ScenarioResult] = Field(min_length=1, max_length=200)
    engines: dict[str, str] = Field(
        default_factory=dict, description="What the calls ran on (the first call's engines)."
    )


@dataclass(frozen=True, slots=True)
class SuiteState:
    """An agent's stored suite."""

    agent: Agent
    suite: AgentEvalSuite


class EvalService:
    """Suites and runs; every method is scoped to one tenant."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._agents = agent_repository(database)
        self._runs = TenantRepository(
            database, EvalRun, lambda ref: NotFound(f"no eval run {ref!r}", field="run_id")
        )

    async def put_suite(self, tenant_id: str, agent_id: str, body: EvalSuiteIn) -> SuiteState:
        """Store (or replace) the agent's suite; runs of an earlier suite stop counting."""
        if "agent" in body.suite:
            message = "a stored suite belongs to its agent: remove 'agent'"
            raise Invalid([FieldError("suite.agent", message, body.suite["agent"])])
        try:
            spec = validate_eval_spec(body.suite)
        except EvalSpecError as exc:
            errors = [
                FieldError(_under("suite", e.path), e.message, e.received) for e in exc.errors
            ]
            raise Invalid(errors, code="invalid_eval_suite") from exc
        async with self._database.writing() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            row = await session.get(AgentEvalSuite, agent.id)
            if row is None:
                row = AgentEvalSuite(agent_id=agent.id, tenant_id=tenant_id)
                session.add(row)
            row.required = body.required
            row.suite = body.suite
            row.digest = suite_digest(spec)
            row.updated_at = utcnow()
            await session.flush()
            return SuiteState(agent, row)

    async def get_suite(self, tenant_id: str, agent_id: str) -> SuiteState:
        """The agent's suite; NotFound when it has none."""
        async with self._database.session() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            return SuiteState(agent, await _suite(session, agent))

    async def delete_suite(self, tenant_id: str, agent_id: str) -> None:
        """Remove the agent's suite (and with it the gate); its recorded runs stay."""
        async with self._database.writing() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            await session.delete(await _suite(session, agent))

    async def record_run(
        self, tenant_id: str, agent_id: str, version: str, body: EvalRunIn
    ) -> EvalRun:
        """Check a finished run against the suite and the calls it names, then store it."""
        async with self._database.writing() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            await version_row(session, agent, version)
            suite = await _suite(session, agent)
            if body.suite_digest != suite.digest:
                raise Conflict(
                    f"the run is of suite {body.suite_digest[:19]}… but agent {agent.id}'s "
                    f"suite is now {suite.digest[:19]}…: run the stored suite (aybiza eval "
                    "without a SPEC file fetches it) and record that run",
                    field="suite_digest",
                    code="suite_changed",
                )
            names = [s["name"] for s in suite.suite["scenarios"]]
            problems = _result_names(names, body.scenarios)
            problems += await _call_evidence(session, tenant_id, agent.id, version, body)
            if problems:
                raise Invalid(problems, code="invalid_eval_run")
            counts = {
                status: sum(1 for s in body.scenarios if s.status == status)
                for status in ("passed", "failed", "skipped")
            }
            run = EvalRun(
                tenant_id=tenant_id,
                agent_id=agent.id,
                agent_version=version,
                suite_digest=body.suite_digest,
                passed=counts["passed"] == len(body.scenarios),
                scenarios_passed=counts["passed"],
                scenarios_failed=counts["failed"],
                scenarios_skipped=counts["skipped"],
                results=[s.model_dump(mode="json") for s in body.scenarios],
                engines=body.engines,
            )
            session.add(run)
            await session.flush()
            return run

    async def runs(
        self, tenant_id: str, agent_id: str, version: str, *, cursor: str | None, limit: int
    ) -> Page[EvalRun]:
        """The runs recorded against ``version``, newest first."""
        async with self._database.session() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            await version_row(session, agent, version, field=None)
            return await self._runs.page(
                session,
                tenant_id,
                EvalRun.agent_id == agent.id,
                EvalRun.agent_version == version,
                cursor=cursor,
                limit=limit,
            )


async def _suite(session: AsyncSession, agent: Agent) -> AgentEvalSuite:
    row = await session.get(AgentEvalSuite, agent.id)
    if row is None:
        message = f"agent {agent.id} has no eval suite; PUT /v1/agents/{agent.id}/eval-suite"
        raise NotFound(message, field="agent_id")
    return row


def _under(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if path else prefix


def _result_names(names: list[str], results: list[ScenarioResult]) -> list[FieldError]:
    """One result per scenario of the suite, none for a scenario it lacks."""
    problems: list[FieldError] = []
    seen: set[str] = set()
    for index, result in enumerate(results):
        if result.name not in names:
            message = "the suite has no scenario of this name"
            problems.append(FieldError(f"scenarios.{index}.name", message, result.name))
        elif result.name in seen:
            message = "a second result for this scenario"
            problems.append(FieldError(f"scenarios.{index}.name", message, result.name))
        seen.add(result.name)
    missing = [name for name in names if name not in seen]
    if missing:
        message = f"no result for scenario(s) {', '.join(repr(n) for n in missing)}"
        problems.append(FieldError("scenarios", message, None))
    return problems


async def _call_evidence(
    session: AsyncSession, tenant_id: str, agent_id: str, version: str, body: EvalRunIn
) -> list[FieldError]:
    """Every scenario that ran names a finished call of this tenant to this agent version."""
    problems: list[FieldError] = []
    used: set[str] = set()
    for index, result in enumerate(body.scenarios):
        path = f"scenarios.{index}.call_sid"
        if result.call_sid is None:
            if result.status == "passed":
                problems.append(FieldError(path, "a passed scenario names the call it placed"))
            continue
        if result.call_sid in used:
            problems.append(
                FieldError(path, "names a call another scenario named", result.call_sid)
            )
        used.add(result.call_sid)
        call = (
            await session.execute(
                select(Call).where(Call.tenant_id == tenant_id, Call.call_sid == result.call_sid)
            )
        ).scalar_one_or_none()
        problem = _call_problem(call, agent_id, version)
        if problem is not None:
            problems.append(FieldError(path, problem, result.call_sid))
    return problems


def _call_problem(call: Call | None, agent_id: str, version: str) -> str | None:
    if call is None:
        return "no call of this tenant has this CallSid"
    if call.agent_id != agent_id:
        return f"the call ran agent {call.agent_id}, not {agent_id}"
    if call.agent_version != version:
        return f"the call ran version {call.agent_version}, not {version}"
    if call.ended_at is None:
        return "the call has not ended"
    return None
