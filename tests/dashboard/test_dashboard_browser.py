"""The dashboard in a real browser (Debian's Chromium, Playwright): sign in through the form,
edit an agent and see the schema error at its field, then watch a live call appear on the
live calls page as the Twilio simulator places it (issue 14)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from tests.api.conftest import ApiServer
from tests.dashboard.browser import chromium
from tests.dashboard.pages import PASSWORD

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.services.access import Access
from aybiza.services.tenants import TenantService
from aybiza.simulator.twilio_client import DEFAULT_CALLER, SimulatedCall


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


def test_sign_in_edit_an_agent_and_watch_a_live_call(site: ApiServer, browser: Browser) -> None:
    tenants: TenantService = site.app.state.tenants
    demo = site.run(tenants.find("demo"))
    access: Access = site.app.state.access
    email = f"browser-{site.backend}@example.com"
    site.run(access.people.add(demo.id, email, "developer", password=PASSWORD))
    context = browser.new_context(base_url=site.base_url)
    page = context.new_page()
    try:
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()

        page.get_by_role("link", name="Agents").click()
        page.get_by_role("link", name="ACME Support (demo)").click()
        editor = page.get_by_label(re.compile(r"^Agent JSON"))
        text = editor.input_value()
        editor.fill(text.replace('"name": "ACME Support (demo)"', '"name": ""', 1))
        page.get_by_role("button", name="Save as a new version").click()
        error = page.locator('#config-errors li[data-field="name"]')
        expect(error).to_be_visible()
        expect(error).to_contain_text("name")
        expect(page.get_by_label(re.compile(r"^Agent JSON"))).to_have_attribute(
            "aria-invalid", "true"
        )

        page.get_by_role("link", name="Live calls").click()
        expect(page.locator("#live-state")).to_be_visible()
        call = site.run(SimulatedCall.dial(site.base_url, to=DEMO_PHONE_NUMBER))
        try:
            heading = f"{DEFAULT_CALLER} → {DEMO_PHONE_NUMBER}"
            live = page.locator("article[data-call-id]").filter(has_text=heading)
            expect(live).to_be_visible(timeout=20_000)
            # The greeting arrives in the transcript as it is heard.
            expect(page.locator("article .transcript li").first).to_contain_text(
                "agent", timeout=20_000
            )
        finally:
            site.run(call.hangup())
        expect(page.locator("article[data-call-id]")).to_have_count(0, timeout=20_000)
    finally:
        context.close()
