"""A browser test call in a real browser: Debian's Chromium, driven by Playwright, with its fake
microphone playing a synthesized WAV ("I would like to book an appointment"). The person signs
in, creates an agent that records its calls, opens its talk page and calls it: the sentence
shows in the live transcript with the agent's answer after it; after the hang-up the page plays
the call's recording (issue 14, items 2, 3 and 5)."""

from __future__ import annotations

import asyncio
import os
import re
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from tests.api.conftest import ApiServer, serve_api
from tests.api.helpers import demo_agent_body
from tests.people.helpers import PASSWORD, add_person

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import ulaw_to_array
from aybiza.providers.tts.espeak import EspeakTts

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y chromium"
SENTENCE = "I would like to book an appointment"
MIC_RATE_HZ = 48_000


def microphone_wav(path: Path) -> Path:
    """The sentence as a 48 kHz WAV for Chromium's fake microphone: a second of silence
    before it and long silence after (the fake device loops the file)."""
    mulaw = asyncio.run(EspeakTts().synthesize(SENTENCE, VoiceOptions("en-us")))
    speech = ulaw_to_array(mulaw).astype(np.float64)
    at_8k = np.concatenate([np.zeros(8000), speech, np.zeros(8000 * 25)])
    times = np.arange(len(at_8k) * MIC_RATE_HZ // 8000) * (8000 / MIC_RATE_HZ)
    samples = np.interp(times, np.arange(len(at_8k)), at_8k).astype("<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(MIC_RATE_HZ)
        writer.writeframes(samples.tobytes())
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with serve_api("sqlite", tmp_path_factory.mktemp("browser-call")) as running:
        yield running


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Browser]:
    """A headless Chromium whose microphone plays the sentence (started outside Playwright's
    event loop: the WAV is synthesized first)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is missing on CI; .ci/run installs it ({INSTALL})")
        pytest.skip(f"needs Debian's Chromium: {INSTALL}")
    wav = microphone_wav(tmp_path / "caller.wav")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def test_a_person_talks_to_an_agent_from_the_browser_and_plays_the_recording(
    server: ApiServer, chromium: Browser
) -> None:
    tenant = server.tenant(max_concurrent_calls=100)
    email = add_person(server, tenant.id, "developer")
    context = chromium.new_context(base_url=server.base_url)
    page = context.new_page()
    try:
        signed_in = context.request.post(
            "/v1/auth/sign-in", data={"email": email, "password": PASSWORD}
        )
        assert signed_in.ok, signed_in.text()
        csrf = signed_in.json()["csrf_token"]
        body = demo_agent_body(greeting="", recording={"enabled": True})
        created = context.request.post("/v1/agents", data=body, headers={"X-CSRF-Token": csrf})
        assert created.status == 201, created.text()
        agent_id = created.json()["id"]

        page.goto(f"/agents/{agent_id}/talk")
        expect(page.locator("#agent-id")).to_have_text(agent_id)
        page.get_by_role("button", name="Start call").click()
        expect(page.get_by_role("status")).to_have_text(re.compile("Connected"), timeout=20_000)
        caller = page.locator('#transcript li[data-speaker="caller"]').first
        expect(caller).to_have_text(re.compile(SENTENCE, re.IGNORECASE), timeout=30_000)
        answer = page.locator(
            '#transcript li[data-speaker="caller"] ~ li[data-speaker="agent"]'
        ).first
        expect(answer).to_contain_text("day and time", timeout=30_000)
        page.get_by_role("button", name="Hang up").click()
        expect(page.get_by_role("status")).to_have_text(
            re.compile("Call ended .caller-hangup."), timeout=20_000
        )

        recording = page.locator("#recording")
        expect(recording).to_have_attribute("src", re.compile(r"/recording$"), timeout=30_000)
        recording.evaluate("audio => audio.play()")
        # The page's policy forbids eval, so wait_for_function cannot run: poll the element.
        played = 0.0
        for _ in range(200):
            played = float(recording.evaluate("audio => audio.currentTime"))
            if played > 0.5:
                break
            page.wait_for_timeout(100)
        assert played > 0.5, "the recording plays"
        link = page.locator("#call-link").get_attribute("href")
        assert link is not None
        call_id = link.rsplit("/", 1)[-1]
        record = context.request.get(f"/v1/calls/{call_id}").json()
        assert record["carrier"] == "browser" and record["ended_reason"] == "caller-hangup"
        assert SENTENCE.lower() in [line["text"] for line in record["transcript"]]
        audio = context.request.get(record["recording"]["url"])
        assert audio.headers["content-type"] == "audio/wav"
        assert audio.body()[:4] == b"RIFF" and record["recording"]["channels"] == 2
        # The call's page: its transcript, its waterfall and the recording, which plays there.
        page.goto(link)
        expect(page.locator("main")).to_contain_text(SENTENCE, ignore_case=True)
        detail = page.get_by_label("Call recording (caller left, agent right)")
        expect(detail).to_have_attribute("src", f"/v1/calls/{call_id}/recording")
        detail.evaluate("audio => audio.play()")
        heard = 0.0
        for _ in range(200):
            heard = float(detail.evaluate("audio => audio.currentTime"))
            if heard > 0.5:
                break
            page.wait_for_timeout(100)
        assert heard > 0.5, "the recording plays on the call's page"
        # The page allows only its own scripts.
        policy = context.request.get(f"/agents/{agent_id}/talk").headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    finally:
        context.close()

    # Without a session the page says why it cannot call.
    stranger = chromium.new_context(base_url=server.base_url)
    try:
        page = stranger.new_page()
        page.goto(f"/agents/{agent_id}/talk")
        page.get_by_role("button", name="Start call").click()
        expect(page.get_by_role("status")).to_have_text(
            "Could not call: aybiza_session: sign in first (no valid session)", timeout=20_000
        )
    finally:
        stranger.close()
