"""HTTP tools refuse private, loopback, link-local and reserved targets after DNS resolution,
unless the operator allows them; the refusal goes back to the model as an error result."""

from __future__ import annotations

import ipaddress

import pytest
from tests.automation.helpers import Controls, make_call, make_tenant
from tests.automation.receiver import Receiver
from tests.automation.test_http_tools import AGENT, tool_runner

from aybiza.analytics.automation_records import tool_calls_for_call
from aybiza.automation.netguard import address_problem, resolve_target
from aybiza.automation.settings import AutomationSettings
from aybiza.automation.tool_runner import build_tool_runner
from aybiza.automation.tool_specs import ToolCreate
from aybiza.automation.tool_store import ToolService
from aybiza.providers.base import ToolCall
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database

BLOCKED = AutomationSettings(allow_private_tool_urls=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/hook", "127.0.0.1 is a loopback address"),
        ("http://10.20.30.40/hook", "10.20.30.40 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]:9/hook", "::1 is a loopback address"),
        ("http://localhost:9/hook", "is a loopback address"),
        ("http://[::ffff:10.0.0.1]/hook", "10.0.0.1 is a private address"),
        ("http://0.0.0.0:9/hook", "0.0.0.0 is a"),
        ("http://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
    ],
)
async def test_private_and_local_targets_are_refused_and_the_model_is_told(
    url: str, reason: str, database: Database, box: HmacSecretBox
) -> None:
    tenant = await make_tenant(database)
    await ToolService(database, box).create(
        tenant,
        ToolCreate.model_validate(
            {"name": "lookup", "description": "Look up.", "options": {"url": url}}
        ),
    )
    call_id = await make_call(database, tenant, ended_reason=None)
    runner = await build_tool_runner(
        tenant_id=tenant,
        agent_config=AGENT,
        controls=Controls(call_id),
        database=database,
        box=box,
        automation_settings=BLOCKED,
        tool_names=["lookup"],
    )
    try:
        result = await runner.run(ToolCall("t1", "lookup", {}))
    finally:
        await runner.aclose()
    assert result.is_error
    assert "refused to call" in result.content["error"]
    assert reason in result.content["error"]
    assert "AYBIZA_ALLOW_PRIVATE_TOOL_URLS=1" in result.content["error"]
    async with database.session() as session:
        [row] = await tool_calls_for_call(session, call_id)
    assert row["outcome"] == "refused"


async def test_the_operator_override_lets_tools_reach_a_local_endpoint(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    blocked, _ = await tool_runner(database, box, receiver, automation=BLOCKED)
    allowed, _ = await tool_runner(
        database, box, receiver, automation=AutomationSettings(allow_private_tool_urls=True)
    )
    arguments = {"date": "2026-12-24", "party_size": 2}
    try:
        refused = await blocked.run(ToolCall("t1", "book_table", arguments))
        assert receiver.seen == []
        done = await allowed.run(ToolCall("t2", "book_table", arguments))
    finally:
        await blocked.aclose()
        await allowed.aclose()
    assert refused.is_error and not done.is_error
    assert len(receiver.seen) == 1


async def test_a_public_address_is_pinned_with_the_host_name_kept_for_http_and_tls() -> None:
    target = await resolve_target("https://93.184.215.14:8443/a?b=1", allow_private=False)
    assert str(target.url) == "https://93.184.215.14:8443/a?b=1"
    assert target.headers == {"Host": "93.184.215.14:8443"}
    assert target.extensions == {"sni_hostname": "93.184.215.14"}


def test_only_globally_routable_addresses_pass() -> None:
    for text in ("8.8.8.8", "2606:4700:4700::1111"):
        assert address_problem(ipaddress.ip_address(text)) is None
    for text in ("100.64.0.1", "192.168.1.1", "172.16.0.1", "fc00::1", "fe80::1", "240.0.0.1"):
        assert address_problem(ipaddress.ip_address(text)) is not None
