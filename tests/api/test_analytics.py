"""``/v1/analytics``: the same figures from a known set of calls on SQLite and PostgreSQL
(each backend must give exactly the numbers written here), grouped by agent, number, hour and
day; tenants see only their own calls; bad ranges are refused naming the field."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.api.conftest import ApiServer, Tenant
from tests.api.helpers import agent_body, create_agent, create_number

from aybiza.store.automation_models import CallAnalysis
from aybiza.store.models import Call, Turn

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
RANGE = {"start": "2026-01-05T10:00:00Z", "end": "2026-01-05T12:00:00Z"}
ENGINES = {"stt": "deepgram", "tts": "deepgram", "llm": "bedrock"}


def _timings(v2v: float) -> dict[str, float]:
    return {
        "stt_final": 100.0,
        "llm_request": 110.0,
        "llm_first_token": 110.0 + v2v / 2,
        "tts_request": 120.0 + v2v / 2,
        "tts_first_audio": v2v - 5,
        "first_audio_sent": v2v,
        "platform_added": 15.0,
    }


def seed_calls(
    api: ApiServer, tenant_id: str, agents: list[str], number_id: str | None
) -> list[str]:
    """Five calls: four in the range (three of agent 0, one of agent 1), one at its end
    (excluded: the range is half open)."""
    plan: list[tuple[int, int, int, str, list[float]]] = [
        # agent, minutes after T0, seconds long, ended reason, voice-to-voice per turn
        (0, 5, 60, "caller-hangup", [505.0, 700.0]),
        (0, 20, 120, "agent-hangup", [900.0]),
        (0, 70, 30, "caller-hangup", []),
        (1, 90, 90, "transferred", [1200.0]),
        (1, 120, 45, "caller-hangup", [100.0]),
    ]

    async def insert() -> list[str]:
        ids = []
        async with api.app.state.database.writing() as session:
            for agent, minute, seconds, reason, turns in plan:
                created = T0 + timedelta(minutes=minute)
                call = Call(
                    tenant_id=tenant_id,
                    call_sid="CA" + secrets.token_hex(16),
                    agent_id=agents[agent],
                    phone_number_id=number_id if agent == 0 else None,
                    status="completed",
                    ended_reason=reason,
                    engines=ENGINES,
                    stats={"duration_s": float(seconds)},
                    created_at=created,
                    started_at=created,
                    ended_at=created + timedelta(seconds=seconds),
                )
                session.add(call)
                await session.flush()
                ids.append(call.id)
                if reason == "caller-hangup":
                    session.add(
                        CallAnalysis(
                            call_id=call.id,
                            tenant_id=tenant_id,
                            method="embedded-rules",
                            sentiment="positive" if minute < 60 else "negative",
                        )
                    )
                for index, v2v in enumerate(turns, start=1):
                    session.add(
                        Turn(
                            tenant_id=tenant_id,
                            call_id=call.id,
                            index=index,
                            agent_text="x" * 100,
                            timings_ms=_timings(v2v),
                            usage={"input_tokens": 1000, "output_tokens": 100},
                        )
                    )
        return ids

    return api.run(insert())


@pytest.fixture
def seeded(api: ApiServer, tenant: Tenant, http: httpx.Client) -> dict[str, Any]:
    first = create_agent(http, agent_body("Front desk"))
    second = create_agent(http, agent_body("Billing desk"))
    number = create_number(http, first["id"])
    seed_calls(api, tenant.id, [first["id"], second["id"]], number["id"])
    # Another tenant's call in the same hour must never count.
    other = api.tenant()
    other_http = api.client(other.key)
    seed_calls(api, other.id, [create_agent(other_http)["id"]] * 2, None)
    return {"agents": [first, second], "number": number}


def _get(http: httpx.Client, path: str, **params: str) -> dict[str, Any]:
    response = http.get(f"/v1/analytics/{path}", params={**RANGE, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_call_figures_by_agent(http: httpx.Client, seeded: dict[str, Any]) -> None:
    body = _get(http, "calls", group_by="agent")
    totals = body["totals"]
    assert (totals["calls"], totals["ended"], totals["live"]) == (4, 4, 0)
    assert totals["duration_s"]["total"] == 300.0
    assert totals["duration_s"]["p50"] == 60.0 and totals["duration_s"]["p95"] == 120.0
    assert totals["outcomes"] == {"agent-hangup": 1, "caller-hangup": 2, "transferred": 1}
    assert totals["sentiment"] == {"negative": 1, "positive": 1}
    groups = {g["label"]: g for g in body["groups"]}
    assert set(groups) == {"Front desk", "Billing desk"}
    assert groups["Front desk"]["calls"] == 3 and groups["Billing desk"]["calls"] == 1
    assert groups["Front desk"]["duration_s"]["avg"] == 70.0
    assert body["start"] == RANGE["start"] and body["end"] == RANGE["end"]


def test_calls_per_hour_include_the_quiet_hours(http: httpx.Client, seeded: dict[str, Any]) -> None:
    body = _get(http, "calls", group_by="hour")
    assert [(g["key"], g["calls"]) for g in body["groups"]] == [
        ("2026-01-05T10:00:00Z", 2),
        ("2026-01-05T11:00:00Z", 2),
    ]
    day = _get(http, "calls", group_by="day", start="2026-01-04T00:00:00Z")
    assert [(g["key"], g["calls"]) for g in day["groups"]] == [
        ("2026-01-04T00:00:00Z", 0),
        ("2026-01-05T00:00:00Z", 4),
    ]


def test_latency_percentiles_per_stage(http: httpx.Client, seeded: dict[str, Any]) -> None:
    body = _get(http, "latency", group_by="number")
    v2v = body["totals"]["stages"]["voice_to_voice"]
    assert body["totals"]["turns"] == 4
    assert (v2v["count"], v2v["p50"], v2v["p95"], v2v["p99"]) == (4, 700.0, 1200.0, 1200.0)
    assert v2v["avg"] == 826.25
    assert body["totals"]["stages"]["stt"]["p50"] == 100.0
    assert body["totals"]["stages"]["platform_added"]["p99"] == 15.0
    llm = body["totals"]["stages"]["llm_first_token"]
    assert (llm["p50"], llm["p95"]) == (350.0, 600.0)
    by_number = {g["label"]: g["turns"] for g in body["groups"]}
    assert by_number == {seeded["number"]["number"]: 3, "(no number)": 1}


def test_costs_and_cost_per_minute(http: httpx.Client, seeded: dict[str, Any]) -> None:
    body = _get(http, "costs", group_by="agent")
    totals = body["totals"]
    # 300 s of calls: 1 + 2 + 1 + 2 billed telephony minutes at 0.0085; 5 minutes of Deepgram
    # STT at 0.0077; 4 turns of 100 characters at 0.030 per 1000 and of 1000 + 100 tokens on
    # Bedrock at 0.003 and 0.015 per 1000.
    assert totals["telephony"] == pytest.approx(6 * 0.0085)
    assert totals["stt"] == pytest.approx(5 * 0.0077)
    assert totals["tts"] == pytest.approx(4 * 0.1 * 0.030)
    assert totals["llm"] == pytest.approx(4 * (0.003 + 0.1 * 0.015))
    assert totals["minutes"] == 5.0
    assert totals["per_minute"] == pytest.approx(totals["total"] / 5, rel=1e-4)
    assert {g["label"]: g["calls"] for g in body["groups"]} == {"Front desk": 3, "Billing desk": 1}


def test_csv_export_has_one_row_per_group(http: httpx.Client, seeded: dict[str, Any]) -> None:
    response = http.get(
        "/v1/analytics/calls", params={**RANGE, "group_by": "agent", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {row["label"]: row["calls"] for row in rows} == {"Front desk": "3", "Billing desk": "1"}
    assert "duration_s.p95" in rows[0]


def test_filter_by_agent(http: httpx.Client, seeded: dict[str, Any]) -> None:
    body = _get(http, "calls", agent_id=seeded["agents"][1]["id"])
    assert body["totals"]["calls"] == 1 and body["groups"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-01-05T12:00:00Z", "end": "2026-01-05T10:00:00Z"}, "start"),
        ({"start": "2025-01-01T00:00:00Z", "end": "2026-01-05T10:00:00Z"}, "end"),
        ({"group_by": "week"}, "group_by"),
        ({"start": "yesterday"}, "start"),
        ({"agent_id": "not-an-id"}, "agent_id"),
    ],
)
def test_bad_queries_name_the_field(http: httpx.Client, params: dict[str, str], field: str) -> None:
    response = http.get("/v1/analytics/calls", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_a_key_without_calls_read_is_refused(api: ApiServer, tenant: Tenant) -> None:
    key = api.key(tenant, ("agents:read",))
    response = api.client(key).get("/v1/analytics/latency")
    assert response.status_code == 403
    assert response.json()["error"]["required_scope"] == "calls:read"
