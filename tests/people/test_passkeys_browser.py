"""Passkeys in a real browser: Debian's Chromium, driven by Playwright, with its virtual
authenticator (DevTools protocol, ``WebAuthn`` domain) standing in for a phone or a security
key. The ``/auth/passkeys`` page registers a passkey, then passes the second factor with it at
the next sign-in (issue 13, item 2)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from tests.api.conftest import ApiServer
from tests.people.helpers import PASSWORD, add_person

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y chromium"


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """A headless Chromium for one test (Playwright's sync API keeps an event loop running in
    this thread while it lives: the module's servers must start and stop outside it)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is missing on CI; .ci/run installs it ({INSTALL})")
        pytest.skip(f"needs Debian's Chromium: {INSTALL}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def test_a_passkey_is_registered_and_then_passes_the_second_factor(
    server: ApiServer, chromium: Browser
) -> None:
    tenant = server.tenant()
    email = add_person(server, tenant.id, "developer")
    # WebAuthn needs a domain for its relying party id: localhost (a loopback name).
    port = urlsplit(server.base_url).port
    context = chromium.new_context(base_url=f"http://localhost:{port}")
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    authenticator = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )["authenticatorId"]
    try:
        signed_in = context.request.post(
            "/v1/auth/sign-in", data={"email": email, "password": PASSWORD}
        )
        assert signed_in.ok, signed_in.text()
        page.goto("/auth/passkeys")
        expect(page.locator("#who")).to_contain_text(email)
        page.get_by_label("Name").fill("Laptop")
        page.get_by_role("button", name="Add a passkey").click()
        expect(page.get_by_role("status")).to_have_text("Passkey added: Laptop", timeout=20_000)
        expect(page.locator("#passkeys li")).to_have_text(["Laptop"])
        stored = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(stored["credentials"]) == 1

        again = context.request.post(
            "/v1/auth/sign-in", data={"email": email, "password": PASSWORD}
        )
        assert again.json()["state"] == "mfa_required"
        assert context.request.get("/v1/agents").status == 401
        page.goto("/auth/passkeys")
        expect(page.locator("#who")).to_contain_text("mfa_required")
        page.get_by_role("button", name="Verify with a passkey").click()
        expect(page.get_by_role("status")).to_have_text(
            "Verified with a passkey: session active", timeout=20_000
        )
        assert context.request.get("/v1/agents").status == 200
        used = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert used["credentials"][0]["signCount"] >= 1
        passkeys = context.request.get("/v1/auth/passkeys").json()
        assert [p["name"] for p in passkeys] == ["Laptop"] and passkeys[0]["last_used_at"]
        # The page allows only its own script.
        policy = context.request.get("/auth/passkeys").headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    finally:
        context.close()
