"""The publish gate: an agent whose eval suite is ``required`` publishes a version only when
the latest recorded run of its current suite against that version passed (docs/evals.md).

The gate reads the evidence ``aybiza eval --record`` leaves (``eval_runs``); it never runs a
suite itself, so publishing stays a quick database change and the calls of a run happen where
its author chose (their laptop on embedded engines, CI, a staging server with cloud engines).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.errors import Conflict
from aybiza.store.eval_models import AgentEvalSuite, EvalRun
from aybiza.store.models import Agent

EVAL_REQUIRED = "eval_required"


async def latest_run(
    session: AsyncSession, agent_id: str, version: str, digest: str
) -> EvalRun | None:
    """The newest recorded run of the suite ``digest`` against ``version``."""
    rows = await session.execute(
        select(EvalRun)
        .where(
            EvalRun.agent_id == agent_id,
            EvalRun.agent_version == version,
            EvalRun.suite_digest == digest,
        )
        .order_by(EvalRun.created_at.desc(), EvalRun.id.desc())
        .limit(1)
    )
    return rows.scalars().first()


async def require_passing_eval(session: AsyncSession, agent: Agent, version: str) -> None:
    """Refuse (``Conflict`` ``eval_required`` on ``version``) to publish ``version`` of
    ``agent`` while its required suite has no passing latest run for it."""
    suite = await session.get(AgentEvalSuite, agent.id)
    if suite is None or not suite.required:
        return
    run = await latest_run(session, agent.id, version, suite.digest)
    if run is not None and run.passed:
        return
    command = f"aybiza eval --url URL --agent {agent.id} --version {version} --record"
    if run is None:
        message = (
            f"agent {agent.id} requires its eval suite ({suite.digest[:19]}…) to pass before a "
            f"version goes live, and no run of that suite is recorded for version {version}: "
            f"store the version without publishing it, run `{command}`, then publish it"
        )
    else:
        failed = [
            str(result.get("name")) for result in run.results if result.get("status") != "passed"
        ]
        message = (
            f"the latest eval run for version {version} (run {run.id}) did not pass: "
            f"{run.scenarios_failed} failed and {run.scenarios_skipped} skipped of "
            f"{len(run.results)} scenarios ({', '.join(failed)}); fix the agent (a new "
            f"version) or the suite, then run `{command}` again"
        )
    raise Conflict(message, field="version", code=EVAL_REQUIRED)
