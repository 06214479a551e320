"""Debian's Chromium driven by Playwright for the dashboard tests: skipped locally with the
install command when missing, a failure on CI (``CI=true``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y chromium"


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium (Playwright's sync API runs an event loop in this thread while it
    lives: servers must start and stop outside it)."""
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
