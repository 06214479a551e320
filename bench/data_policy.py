"""Retention sweep and caller erasure on SQLite: how fast expired call data goes.

Builds a fresh database with ``--calls`` backdated calls (each with ``--lines`` transcript
lines, as many turns, a tool call, an analysis, a workflow run with a step and a webhook
delivery), then times the retention sweep to the end (batches of 500 calls, each its own
transaction) and the erasure of one caller who made ``--caller-calls`` of them.

    PYTHONPATH=.:src python -m bench.data_policy
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from aybiza.security.caller_digest import caller_digest
from aybiza.services.caller_erasure import CallerErasure
from aybiza.services.retention import RetentionSweep
from aybiza.store.automation_models import CallAnalysis, ToolCallRecord, WorkflowRun, WorkflowStep
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import (
    Call,
    Tenant,
    TranscriptLine,
    Turn,
    WebhookDelivery,
    WebhookEndpoint,
    new_id,
    utcnow,
)

CALLER = "+15550100123"


async def _fill(database: Database, calls: int, lines: int, caller_calls: int) -> str:
    old = utcnow() - timedelta(days=40)
    async with database.writing() as session:
        tenant = Tenant(name="bench", retention_transcripts_days=30, retention_events_days=30)
        session.add(tenant)
        await session.flush()
        endpoint = WebhookEndpoint(
            tenant_id=tenant.id, url="http://127.0.0.1:9/", events=[], secret_sealed="x"
        )
        session.add(endpoint)
        await session.flush()
        tenant_id, endpoint_id = tenant.id, endpoint.id
    for start in range(0, calls, 1000):
        rows: dict[type, list[dict[str, object]]] = {}
        for n in range(start, min(start + 1000, calls)):
            call_id, run_id = new_id(), new_id()
            caller = CALLER if n < caller_calls else f"+1555{n:07d}"
            rows.setdefault(Call, []).append(
                {
                    "id": call_id,
                    "tenant_id": tenant_id,
                    "call_sid": f"CA{call_id}",
                    "from_number": caller,
                    "to_number": "+15550109999",
                    "status": "completed",
                    "created_at": old,
                    "ended_at": old,
                    "engines": {},
                    "stats": {},
                }
            )
            for seq in range(lines):
                rows.setdefault(TranscriptLine, []).append(
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "call_id": call_id,
                        "seq": seq,
                        "speaker": "caller",
                        "text": "I would like to book a table",
                        "at": old,
                    }
                )
                rows.setdefault(Turn, []).append(
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "call_id": call_id,
                        "index": seq,
                        "user_text": "book a table",
                        "agent_text": "for when?",
                        "heard_text": "",
                        "interrupted": False,
                        "timings_ms": {},
                        "usage": {},
                        "notes": {},
                        "created_at": old,
                    }
                )
            rows.setdefault(ToolCallRecord, []).append(
                {
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "call_id": call_id,
                    "tool_call_id": "t",
                    "name": "book",
                    "kind": "http",
                    "arguments": {"when": "7pm"},
                    "result": {},
                    "outcome": "ok",
                    "started_at": old,
                    "finished_at": old,
                }
            )
            rows.setdefault(CallAnalysis, []).append(
                {
                    "call_id": call_id,
                    "tenant_id": tenant_id,
                    "method": "embedded-rules",
                    "summary": "booked",
                    "fields": {},
                    "created_at": old,
                    "updated_at": old,
                }
            )
            rows.setdefault(WorkflowRun, []).append(
                {
                    "id": run_id,
                    "tenant_id": tenant_id,
                    "name": "post-call",
                    "definition": {},
                    "trigger_event": "call.ended",
                    "context": {},
                    "dedupe_key": run_id,
                    "call_id": call_id,
                    "status": "completed",
                    "created_at": old,
                    "updated_at": old,
                    "finished_at": old,
                    "due_at": old,
                }
            )
            rows.setdefault(WorkflowStep, []).append(
                {
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "run_id": run_id,
                    "step_id": "s",
                    "position": 0,
                    "type": "http",
                    "idempotency_key": run_id,
                    "request": {},
                    "output": {},
                    "started_at": old,
                }
            )
            rows.setdefault(WebhookDelivery, []).append(
                {
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "endpoint_id": endpoint_id,
                    "event_id": new_id(),
                    "event": "call.ended",
                    "body": "{}",
                    "call_id": call_id,
                    "status": "delivered",
                    "created_at": old,
                    "next_attempt_at": old,
                }
            )
        async with database.writing() as session:
            for model, values in rows.items():
                await session.execute(insert(model), values)
    return tenant_id


async def _run(args: argparse.Namespace, directory: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    try:
        await upgrade_to_head(database)
        tenant_id = await _fill(database, args.calls, args.lines, args.caller_calls)
        erasure = CallerErasure(database, lambda n: caller_digest(b"k" * 32, n))
        started = time.perf_counter()
        erased = await erasure.erase(tenant_id, CALLER)
        erase_s = time.perf_counter() - started
        rows = sum(erased.erased.values())
        print(
            f"erase one caller ({erased.erased['calls']} calls, {rows} rows): "
            f"{erase_s * 1000:.0f} ms"
        )
        sweep, totals, passes = RetentionSweep(database), 0, 0
        started = time.perf_counter()
        while True:
            report = await sweep.sweep()
            passes += 1
            totals += sum(sum(counts.values()) for counts in report.deleted.values())
            if not report.more:
                break
        sweep_s = time.perf_counter() - started
        print(
            f"retention sweep: {totals} rows in {passes} passes, {sweep_s:.2f} s "
            f"({totals / sweep_s:.0f} rows/s, {args.calls / sweep_s:.0f} calls/s)"
        )
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=10, help="transcript lines (and turns)")
    parser.add_argument("--caller-calls", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_run(args, Path(directory)))


if __name__ == "__main__":
    main()
