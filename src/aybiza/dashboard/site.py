"""The dashboard's pages, mounted at ``/`` on the API's app."""

from __future__ import annotations

from fastapi import FastAPI

from aybiza.dashboard import (
    agent_pages,
    analytics_pages,
    auth_pages,
    call_pages,
    live_pages,
    number_pages,
    overview,
    settings_pages,
    static_files,
    totp_pages,
    waveform,
)
from aybiza.dashboard.gate import install_page_errors


def install_dashboard(app: FastAPI) -> None:
    """Add the pages and their error pages to ``app``."""
    for pages in (
        auth_pages,
        totp_pages,
        overview,
        agent_pages,
        number_pages,
        live_pages,
        analytics_pages,
        waveform,
        call_pages,
        settings_pages,
        static_files,
    ):
        app.include_router(pages.router)
    install_page_errors(app)
