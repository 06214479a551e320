"""``/v1/agents/{id}/eval-suite`` and ``/v1/agents/{id}/versions/{v}/eval-runs``: an agent's
eval suite, whether publishing needs it to pass, and the runs recorded against its versions
(docs/evals.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from aybiza.api.auth import require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.security.permissions import Permission
from aybiza.services.eval_runs import EvalRunIn, EvalService, EvalSuiteIn, SuiteState
from aybiza.services.tenants import Principal
from aybiza.store.eval_models import EvalRun

router = APIRouter(prefix="/v1/agents", tags=["evals"])

Reader = Annotated[Principal, Depends(require(Permission.AGENTS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.AGENTS_WRITE))]


class EvalSuiteOut(BaseModel):
    """An agent's eval suite."""

    agent_id: str
    required: bool = Field(description="Publishing a version needs a passing run of the suite.")
    digest: str = Field(description="Names the suite's content; runs record the one they ran.")
    suite: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class EvalRunOut(BaseModel):
    """A recorded run of the suite against one agent version."""

    id: str
    agent_id: str
    agent_version: str
    suite_digest: str
    passed: bool = Field(description="Every scenario of the suite passed.")
    scenarios_passed: int
    scenarios_failed: int
    scenarios_skipped: int
    results: list[dict[str, Any]]
    engines: dict[str, Any]
    created_at: datetime


def _service(request: Request) -> EvalService:
    service: EvalService = request.app.state.evals
    return service


def _suite_out(state: SuiteState) -> EvalSuiteOut:
    row = state.suite
    return EvalSuiteOut(
        agent_id=state.agent.id,
        required=row.required,
        digest=row.digest,
        suite=row.suite,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _run_out(run: EvalRun) -> EvalRunOut:
    return EvalRunOut(
        id=run.id,
        agent_id=run.agent_id,
        agent_version=run.agent_version,
        suite_digest=run.suite_digest,
        passed=run.passed,
        scenarios_passed=run.scenarios_passed,
        scenarios_failed=run.scenarios_failed,
        scenarios_skipped=run.scenarios_skipped,
        results=run.results,
        engines=run.engines,
        created_at=run.created_at,
    )


@router.put(
    "/{agent_id}/eval-suite",
    response_model=EvalSuiteOut,
    responses=error_responses(401, 403, 404, 422),
    summary="Store the agent's eval suite (and whether publishing needs it to pass)",
)
async def put_eval_suite(
    agent_id: str, body: EvalSuiteIn, request: Request, principal: Writer
) -> EvalSuiteOut:
    """Validate and store the suite. With ``required``, publishing a version is refused (409
    ``eval_required``) until a passing run of this suite is recorded for it; runs of an earlier
    suite stop counting."""
    return _suite_out(await _service(request).put_suite(principal.tenant_id, agent_id, body))


@router.get(
    "/{agent_id}/eval-suite",
    response_model=EvalSuiteOut,
    responses=error_responses(401, 403, 404),
)
async def get_eval_suite(agent_id: str, request: Request, principal: Reader) -> EvalSuiteOut:
    """The agent's eval suite (404 when it has none)."""
    return _suite_out(await _service(request).get_suite(principal.tenant_id, agent_id))


@router.delete(
    "/{agent_id}/eval-suite",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
async def delete_eval_suite(agent_id: str, request: Request, principal: Writer) -> Response:
    """Remove the suite and with it the publish gate; recorded runs stay."""
    await _service(request).delete_suite(principal.tenant_id, agent_id)
    return Response(status_code=204)


@router.post(
    "/{agent_id}/versions/{version}/eval-runs",
    status_code=201,
    response_model=EvalRunOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Record a finished run of the agent's suite against a version",
)
async def record_eval_run(
    agent_id: str, version: str, body: EvalRunIn, request: Request, principal: Writer
) -> EvalRunOut:
    """What ``aybiza eval --record`` sends. Refused (409 ``suite_changed``) for a suite other
    than the stored one, and (422) unless every scenario has one result and every call it
    names is a finished call of this tenant to this agent version."""
    run = await _service(request).record_run(principal.tenant_id, agent_id, version, body)
    return _run_out(run)


@router.get(
    "/{agent_id}/versions/{version}/eval-runs",
    response_model=ListOf[EvalRunOut],
    responses=error_responses(400, 401, 403, 404),
)
async def list_eval_runs(
    agent_id: str,
    version: str,
    request: Request,
    principal: Reader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> ListOf[EvalRunOut]:
    """The runs recorded against the version, newest first; the publish gate reads the
    newest run of the current suite."""
    page = await _service(request).runs(
        principal.tenant_id, agent_id, version, cursor=cursor, limit=limit
    )
    return listed(page, _run_out)
