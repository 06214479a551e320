"""Unsigned mode (issue 11, item 3): without ``TWILIO_AUTH_TOKEN`` the start-up names the risk;
with ``AYBIZA_ENV=production`` the app refuses to start. (The real server's log and exit code
are checked in ``tests/e2e/test_hardening.py``.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aybiza.app import create_app
from aybiza.config import Settings, StartupRefused, check_startup


def _settings(tmp_path: Path) -> Settings:
    database_url = f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'aybiza.db').as_posix()}"
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


def test_item3_without_a_twilio_token_the_risk_is_named(tmp_path: Path) -> None:
    [risk] = check_startup(_settings(tmp_path))
    assert risk.name == "unsigned_twilio_webhooks"
    assert "anyone who can reach this server can post calls" in risk.message
    assert "Set TWILIO_AUTH_TOKEN" in risk.message
    assert check_startup(replace(_settings(tmp_path), twilio_auth_token="token")) == []


async def test_item3_production_refuses_to_start_without_a_twilio_token(tmp_path: Path) -> None:
    app = create_app(replace(_settings(tmp_path), env="production"))
    with pytest.raises(StartupRefused, match="needs TWILIO_AUTH_TOKEN") as refused:
        async with app.router.lifespan_context(app):
            pass
    assert "Set TWILIO_AUTH_TOKEN to the auth token of your Twilio account" in str(refused.value)
    assert not (tmp_path / "data").exists(), "refused before opening or creating anything"


def test_production_with_a_twilio_token_has_no_risk(tmp_path: Path) -> None:
    assert (
        check_startup(replace(_settings(tmp_path), env="production", twilio_auth_token="t")) == []
    )


def test_an_unknown_environment_name_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AYBIZA_ENV", "prod")
    with pytest.raises(ValueError, match="AYBIZA_ENV must be 'development' or 'production'"):
        Settings.from_env()
    monkeypatch.setenv("AYBIZA_ENV", "Production")
    assert Settings.from_env().production
