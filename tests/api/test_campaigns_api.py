"""``/v1/campaigns`` and ``/v1/do-not-call``: bad bodies and CSV files are refused naming the
field; contacts are sealed at rest; campaigns are listed, counted, paused, resumed and
canceled; results come as CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
from sqlalchemy import text
from tests.api.campaign_helpers import callee, campaign_body, tenant_with_number
from tests.api.carrier import Carrier

from aybiza.store.database import Database


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def _fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    return {problem["field"] for problem in body.get("errors", [])} | {body["field"]}


def test_bad_campaign_bodies_name_each_field(carrier: Carrier) -> None:
    http, number = tenant_with_number(carrier)
    good = [{"number": callee()}]
    cases: list[tuple[dict[str, Any], str]] = [
        (campaign_body(number, []), "contacts"),
        (
            campaign_body(number, [{"number": callee()}, {"number": "555-0100"}]),
            "contacts.1.number",
        ),
        (
            campaign_body(number, [{"number": callee(), "timezone": "Mars/Olympus"}]),
            "contacts.0.timezone",
        ),
        (campaign_body(number, good, pacing={"calls_per_minute": 0}), "pacing.calls_per_minute"),
        (
            campaign_body(number, good, calling_window={"start": "18:00", "end": "09:00"}),
            "calling_window.end",
        ),
        (campaign_body(number, good, retry={"retry_on": ["answered"]}), "retry.retry_on.0"),
        (campaign_body(number, good, from_number_id="0" * 32), "from_number_id"),
        (campaign_body(number, good, surprise=True), "surprise"),
    ]
    for body, field in cases:
        assert field in _fields(http.post("/v1/campaigns", json=body)), (field, body)
    twice = callee()
    duplicate = http.post(
        "/v1/campaigns", json=campaign_body(number, [{"number": twice}, {"number": twice}])
    )
    assert _fields(duplicate) == {"contacts.1.number"}
    variables = http.post(
        "/v1/campaigns",
        json=campaign_body(number, [{"number": callee(), "variables": {"bad name": "x"}}]),
    )
    assert any(field.startswith("contacts.0.variables") for field in _fields(variables))
    assert http.get("/v1/campaigns").json()["data"] == []


def _upload(
    http: httpx.Client, settings: dict[str, Any] | None, text: str | None
) -> httpx.Response:
    data = {"campaign": json.dumps(settings)} if settings is not None else {}
    files = {"file": ("contacts.csv", text.encode(), "text/csv")} if text is not None else None
    return http.post("/v1/campaigns", data=data, files=files)


def test_a_csv_contact_list_is_checked_row_by_row_and_its_columns_become_variables(
    carrier: Carrier,
) -> None:
    http, number = tenant_with_number(carrier)
    settings = campaign_body(number, [])
    del settings["contacts"]
    good, london = callee(), "+442079460321"
    assert _fields(_upload(http, settings, f"number,first_name\n{good},Ann\nnope,Bob\n")) == {
        "contacts.1.number"
    }
    assert _fields(_upload(http, settings, "name\nAnn\n")) == {"file"}
    assert _fields(_upload(http, None, f"number\n{good}\n")) == {"campaign"}
    assert _fields(_upload(http, settings, None)) == {"file"}
    assert _fields(
        _upload(http, {**settings, "pacing": {"calls_per_minute": -1}}, f"number\n{good}\n")
    ) == {"pacing.calls_per_minute"}
    text = f"number,first_name,topic\n{good},Ann,=SUM(A1)\n{london},Bob,renewal\n"
    created = _upload(
        http,
        {**settings, "calling_window": {"start": "09:00", "end": "09:01", "days": ["sun"]}},
        text,
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["contacts"]["total"] == 2 and campaign["status"] == "running"
    contacts = http.get(f"/v1/campaigns/{campaign['id']}/contacts").json()["data"]
    assert [c["number"] for c in contacts] == [good, london]
    assert contacts[0]["variables"] == {"first_name": "Ann", "topic": "=SUM(A1)"}
    assert contacts[0]["time_zones"] == ["America/New_York"]
    assert contacts[1]["time_zones"] == ["Europe/London"]
    stored = carrier.api.run(_stored_contacts(carrier, campaign["id"]))
    assert stored and all(number.startswith("sealed:") for number, _ in stored)
    assert not any(good in number or "Ann" in variables for number, variables in stored)
    results = http.get(f"/v1/campaigns/{campaign['id']}/results.csv")
    assert results.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(results.text)))
    assert [row["number"] for row in rows] == [good, london]
    # A spreadsheet must not run a contact's variable as a formula.
    assert rows[0]["topic"] == "'=SUM(A1)" and rows[1]["first_name"] == "Bob"


async def _stored_contacts(carrier: Carrier, campaign_id: str) -> list[tuple[str, str]]:
    """The contacts' number and variables columns as the database holds them."""
    database: Database = carrier.api.app.state.database
    async with database.session() as session:
        rows = await session.execute(
            text("SELECT number, variables FROM campaign_contacts WHERE campaign_id = :id"),
            {"id": campaign_id},
        )
        return [(str(row[0]), str(row[1])) for row in rows]


def test_pause_resume_and_cancel_move_the_campaign_and_refuse_impossible_moves(
    carrier: Carrier,
) -> None:
    http, number = tenant_with_number(carrier)
    # A window of one minute a week: nobody is called while the test runs (most likely).
    window = {"start": "03:00", "end": "03:01", "days": ["sun"]}
    body = campaign_body(
        number, [{"number": callee()}, {"number": callee()}], calling_window=window
    )
    campaign = http.post("/v1/campaigns", json=body).json()
    cid = campaign["id"]
    assert http.post(f"/v1/campaigns/{cid}/pause").json()["status"] == "paused"
    refused = http.post(f"/v1/campaigns/{cid}/pause")
    assert refused.status_code == 409 and _error(refused)["code"] == "campaign_state"
    assert http.post(f"/v1/campaigns/{cid}/resume").json()["status"] == "running"
    canceled = http.post(f"/v1/campaigns/{cid}/cancel").json()
    assert canceled["status"] == "canceled"
    assert canceled["contacts"]["by_outcome"] == {"canceled": 2}
    assert http.post(f"/v1/campaigns/{cid}/resume").status_code == 409
    listed = http.get("/v1/campaigns").json()["data"]
    assert [c["id"] for c in listed] == [cid] and listed[0]["contacts"] is None
    other, _ = tenant_with_number(carrier)
    assert other.get(f"/v1/campaigns/{cid}").status_code == 404
    assert other.post(f"/v1/campaigns/{cid}/cancel").status_code == 404
    assert http.get("/v1/campaigns/not-an-id").status_code == 404


def test_campaign_permissions_follow_the_scopes(carrier: Carrier) -> None:
    reader, number = tenant_with_number(carrier, "campaigns:read")
    refused = reader.post("/v1/campaigns", json=campaign_body(number, [{"number": callee()}]))
    assert refused.status_code == 403 and _error(refused)["required_scope"] == "campaigns:write"
    assert reader.get("/v1/campaigns").status_code == 200
    assert reader.post("/v1/do-not-call", json={"number": callee()}).status_code == 403


def test_the_do_not_call_list_skips_its_numbers_in_new_campaigns(carrier: Carrier) -> None:
    http, number = tenant_with_number(carrier)
    blocked, free = callee(), callee()
    added = http.post("/v1/do-not-call", json={"number": blocked, "reason": "asked us"})
    assert added.status_code == 201 and added.json()["reason"] == "asked us"
    again = http.post("/v1/do-not-call", json={"number": blocked})
    assert again.status_code == 409 and _error(again)["field"] == "number"
    assert _fields(http.post("/v1/do-not-call", json={"number": "call me"})) == {"number"}
    assert [row["number"] for row in http.get("/v1/do-not-call").json()["data"]] == [blocked]
    window = {"start": "03:00", "end": "03:01", "days": ["sun"]}
    body = campaign_body(number, [{"number": blocked}, {"number": free}], calling_window=window)
    campaign = http.post("/v1/campaigns", json=body).json()
    assert campaign["contacts"]["by_outcome"] == {"do-not-call": 1}
    assert campaign["contacts"]["by_status"] == {"skipped": 1, "pending": 1}
    http.post(f"/v1/campaigns/{campaign['id']}/cancel")
    assert http.delete(f"/v1/do-not-call/{blocked}").status_code == 204
    gone = http.delete(f"/v1/do-not-call/{blocked}")
    assert gone.status_code == 404 and _error(gone)["field"] == "number"


def test_erasing_a_caller_removes_them_from_campaign_contacts(carrier: Carrier) -> None:
    http, number = tenant_with_number(carrier)
    erased_one, kept = callee(), callee()
    contacts: list[dict[str, Any]] = [
        {"number": erased_one, "variables": {"first_name": "Ann"}},
        {"number": kept},
    ]
    # A window that is closed now: nobody is dialled while the test looks.
    window = {"start": "09:00", "end": "09:01", "days": ["sun"]}
    created = http.post(
        "/v1/campaigns", json=campaign_body(number, contacts, calling_window=window)
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    erasure = http.delete(f"/v1/callers/{erased_one}")
    assert erasure.status_code == 200, erasure.text
    assert erasure.json()["erased"]["campaign_contacts"] == 1
    left = http.get(f"/v1/campaigns/{campaign_id}/contacts").json()["data"]
    assert [contact["number"] for contact in left] == [kept]
    assert len(carrier.api.run(_stored_contacts(carrier, campaign_id))) == 1
