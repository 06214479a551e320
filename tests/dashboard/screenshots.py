"""``make screenshots``: docs/screenshots/*.png of each dashboard page, taken by Debian's
Chromium through Playwright from a server on a fresh SQLite database, with a call placed by
the Twilio simulator so the live and call pages have something to show.

    PYTHONPATH=. .venv/bin/python -m tests.dashboard.screenshots docs/screenshots
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright
from tests.api.conftest import ApiServer, serve_api
from tests.dashboard.browser import CHROMIUM, INSTALL

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.agents.speech import VoiceOptions
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.services.demo_person import seed_demo_person
from aybiza.simulator.twilio_client import SimulatedCall

WIDTH, HEIGHT = 1280, 900


def _shoot(page: Page, out: Path, name: str, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"wrote {out / name}.png")


async def _speech(text: str) -> bytes:
    """The caller's line, spoken by the embedded synthesizer (μ-law 8 kHz)."""
    tts = EspeakTts()
    try:
        return await tts.synthesize(text, VoiceOptions())
    finally:
        await tts.aclose()


def take(server: ApiServer, out: Path) -> None:
    """Sign in as the demo owner and photograph every page."""
    person = server.run(seed_demo_person(server.app.state.database, server.data_dir))
    assert person is not None and person.password is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        context = browser.new_context(
            base_url=server.base_url, viewport={"width": WIDTH, "height": HEIGHT}
        )
        page = context.new_page()
        _shoot(page, out, "sign-in", "/sign-in")
        page.get_by_label("Email").fill(person.email)
        page.get_by_label("Password").fill(person.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        call = server.run(SimulatedCall.dial(server.base_url, to=DEMO_PHONE_NUMBER))
        page.goto("/live")
        expect(page.locator("article .transcript li").first).to_be_visible(timeout=30_000)
        server.run(call.wait_until_agent_done(timeout=30))
        server.run(call.say(server.run(_speech("I would like to book an appointment"))))
        expect(page.locator("article tbody tr").first).to_be_visible(timeout=30_000)
        server.run(call.wait_until_agent_done(timeout=30))
        time.sleep(1.5)
        page.screenshot(path=str(out / "live-calls.png"), full_page=True)
        print(f"wrote {out / 'live-calls'}.png")
        call_path = page.locator("article h2 a").first.get_attribute("href") or "/calls"
        server.run(call.hangup())
        time.sleep(1)
        _shoot(page, out, "call", call_path)
        _shoot(page, out, "overview", "/")
        _shoot(page, out, "agents", "/agents")
        page.goto("/agents")
        agent_path = page.locator("tbody a").first.get_attribute("href") or "/agents"
        _shoot(page, out, "agent-editor", agent_path)
        editor = page.get_by_label(re.compile(r"^Agent JSON"))
        editor.fill(editor.input_value().replace('"name": "ACME Support (demo)"', '"name": ""', 1))
        page.get_by_role("button", name="Save as a new version").click()
        expect(page.locator("#config-errors")).to_be_visible()
        page.screenshot(path=str(out / "agent-editor-errors.png"), full_page=True)
        print(f"wrote {out / 'agent-editor-errors'}.png")
        _shoot(page, out, "numbers", "/numbers")
        _shoot(page, out, "calls", "/calls")
        _shoot(page, out, "analytics", "/analytics")
        _shoot(page, out, "settings-people", "/settings/people")
        _shoot(page, out, "settings-webhooks", "/settings/webhooks")
        _shoot(page, out, "audit-log", "/settings/audit")
        context.close()
        browser.close()


def main(argv: list[str]) -> int:
    if not CHROMIUM.exists():
        print(f"needs Debian's Chromium: {INSTALL}", file=sys.stderr)
        return 2
    out = Path(argv[1] if len(argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, serve_api("sqlite", Path(data)) as server:
        take(server, out.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
