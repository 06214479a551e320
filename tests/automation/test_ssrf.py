"""Item 1 (SSRF) of the hardening issue for HTTP tools and workflow steps: a target the guard
refuses is rejected when configured (422 naming the field, no DNS) and, when it only turns out
refused at send time (a name resolving to a refused address), it is a recorded failure with
nothing sent.

No test here can send traffic anywhere but loopback: every request goes through a sender whose
sockets come from ``LoopbackOnlyNetwork``, names are resolved by ``StubResolver`` to loopback
addresses, and the refused literals below are only ever handed to the creation check, which
neither resolves nor connects. The address rules themselves are tested as pure functions in
``tests/outbound/test_addresses.py``."""

from __future__ import annotations

from typing import Any

from tests.automation.api_app import automation_api
from tests.automation.helpers import make_agent, make_call, make_tenant
from tests.automation.receiver import Receiver
from tests.automation.test_http_tools import tool_runner
from tests.automation.workflow_helpers import FAST, call_ended, create_workflow, finished, steps_of
from tests.fakes.loopback import StubResolver, loopback_sender

from aybiza.analytics.automation_records import tool_calls_for_call
from aybiza.automation.platform import Automation
from aybiza.config import Settings
from aybiza.providers.base import ToolCall
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database

NAME = "tools.example.test"
ARGUMENTS = {"date": "2026-12-24", "party_size": 2}
# Literal targets a tenant might try; only ever given to the creation check (no connection).
REFUSED_AT_CREATION = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.20.30.40/hook",
    "http://127.0.0.1:9/hook",
    "http://[::1]:9/hook",
    "http://localhost:9/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
]


async def test_item1_a_tool_whose_name_resolves_to_loopback_is_refused_and_nothing_is_sent(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    sender, network = loopback_sender(allow=(), resolver=StubResolver({NAME: [["127.0.0.1"]]}))
    url = f"http://{NAME}:{receiver.port}/book"
    runner, call_id = await tool_runner(database, box, receiver, url=url, sender=sender)
    try:
        result = await runner.run(ToolCall("t1", "book_table", ARGUMENTS))
    finally:
        await runner.aclose()
        await sender.aclose()
    assert result.is_error
    assert f"refused to call {NAME}: 127.0.0.1 is a loopback address" in result.content["error"]
    assert "AYBIZA_OUTBOUND_ALLOW_CIDRS" in result.content["error"]
    assert receiver.seen == [] and network.connected == []
    async with database.session() as session:
        [row] = await tool_calls_for_call(session, call_id)
    assert row["outcome"] == "refused"


async def test_item1_with_loopback_allowed_the_same_tool_reaches_the_endpoint(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    sender, network = loopback_sender(resolver=StubResolver({NAME: [["127.0.0.1"]]}))
    url = f"http://{NAME}:{receiver.port}/book"
    runner, call_id = await tool_runner(database, box, receiver, url=url, sender=sender)
    try:
        result = await runner.run(ToolCall("t1", "book_table", ARGUMENTS))
    finally:
        await runner.aclose()
        await sender.aclose()
    assert not result.is_error
    [seen] = receiver.to("/book")
    assert seen.signed is True and seen.headers["host"] == f"{NAME}:{receiver.port}"
    assert network.connected == [("127.0.0.1", receiver.port)]
    async with database.session() as session:
        [row] = await tool_calls_for_call(session, call_id)
    assert row["outcome"] == "ok"


async def test_item1_tools_with_refused_urls_get_422_naming_options_url(
    database: Database, box: HmacSecretBox
) -> None:
    tool: dict[str, Any] = {"name": "lookup", "description": "Look up an order."}
    # The platform's default: no allow-list.
    async with automation_api(database, box, settings=Settings()) as api:
        tenant = await api.tenant()
        async with api.client(tenant.key) as client:
            for url in REFUSED_AT_CREATION:
                response = await client.post("/v1/tools", json={**tool, "options": {"url": url}})
                assert response.status_code == 422, (url, response.text)
                assert response.json()["error"]["field"] == "options.url", response.text
            made = await client.post(
                "/v1/tools", json={**tool, "options": {"url": "https://shop.example.com/o"}}
            )
            assert made.status_code == 201, made.text
            changed = await client.patch(
                f"/v1/tools/{made.json()['id']}",
                json={"options": {"url": "http://169.254.169.254/latest/meta-data/"}},
            )
            assert changed.status_code == 422, changed.text
            assert changed.json()["error"]["field"] == "options.url"
            assert "link-local" in changed.json()["error"]["message"]


async def test_item1_workflow_steps_with_refused_urls_get_422_naming_the_step_url(
    database: Database, box: HmacSecretBox
) -> None:
    async with automation_api(database, box, FAST, settings=Settings()) as api:
        tenant = await api.tenant()
        async with api.client(tenant.key) as client:
            for step_type in ("http", "webhook"):
                for url in REFUSED_AT_CREATION:
                    workflow = {
                        "name": "sync",
                        "trigger": {"event": "call.ended"},
                        "steps": [
                            {"id": "ok", "type": "http", "url": "https://crm.example.com/a"},
                            {"id": "bad", "type": step_type, "url": url},
                        ],
                    }
                    response = await client.post("/v1/workflows", json=workflow)
                    assert response.status_code == 422, (url, response.text)
                    fields = [problem["field"] for problem in response.json()["errors"]]
                    assert fields == ["steps.1.url"], response.text
            # A placeholder in the host is filled per run: the send-time check decides then.
            templated = {
                "name": "templated",
                "trigger": {"event": "call.ended"},
                "steps": [{"id": "a", "type": "http", "url": "https://{{call.to}}.example.com/"}],
            }
            made = await client.post("/v1/workflows", json=templated)
            assert made.status_code == 201, made.text
            changed = await client.patch(
                f"/v1/workflows/{made.json()['id']}",
                json={"steps": [{"id": "a", "type": "webhook", "url": "http://10.0.0.7/h"}]},
            )
            assert changed.status_code == 422, changed.text
            assert changed.json()["error"]["field"] == "steps.0.url"


async def test_item1_a_workflow_step_refused_at_send_time_fails_and_sends_nothing(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    dns = StubResolver({"crm.example.test": [["127.0.0.1"]]})
    sender, network = loopback_sender(allow=(), resolver=dns)
    engine = Automation(database, box, settings=Settings(), automation=FAST, sender=sender)
    await engine.start()
    try:
        tenant = await make_tenant(database)
        await create_workflow(
            engine,
            tenant,
            {
                "name": "crm",
                "trigger": {"event": "call.ended"},
                "steps": [
                    {
                        "id": "push",
                        "type": "http",
                        "url": f"http://crm.example.test:{receiver.port}/crm",
                        "retry": {"max_attempts": 3, "backoff_s": 0},
                    }
                ],
            },
        )
        version = await make_agent(database, tenant, {"name": "A", "system_prompt": "Hi."})
        [run_id] = await call_ended(engine, await make_call(database, tenant, version))
        run = await finished(database, run_id)
        steps = await steps_of(database, run_id)
    finally:
        await engine.stop()
        await sender.aclose()
    assert run.status == "failed"
    push = steps["push"]
    assert push.status == "failed" and push.attempts == 1  # a refusal is not retried
    assert push.error is not None and "127.0.0.1 is a loopback address" in push.error
    assert receiver.seen == [] and network.connected == []
