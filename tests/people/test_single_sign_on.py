"""Single sign-on through OpenID Connect against a local provider written to the spec: the
authorization code flow with PKCE, and the ID token checks that refuse a wrong nonce,
audience, signature or expiry (issue 13, item 2)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.api.conftest import ApiServer, serve_api
from tests.fakes.oidc_provider import OidcProvider
from tests.people.helpers import add_person, new_email

from aybiza.config import Settings


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    running = OidcProvider().start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def sso_server(
    provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    def configure(settings: Settings, base_url: str) -> Settings:
        provider.redirect_uris.append(f"{base_url}/v1/auth/oidc/callback")
        access = replace(
            settings.access,
            oidc_issuer=provider.url,
            oidc_client_id=provider.client_id,
            oidc_client_secret=provider.client_secret,
        )
        return replace(settings, access=access)

    data_dir: Path = tmp_path_factory.mktemp("sso")
    with serve_api("sqlite", data_dir, configure) as running:
        yield running


def _sign_in(
    server: ApiServer, *, tenant: str | None = None
) -> tuple[httpx.Client, httpx.Response]:
    """Run the browser's part: start, follow to the provider, come back to the callback."""
    client = httpx.Client(base_url=server.base_url, timeout=30)
    server._clients.append(client)
    params = {"next": "/agents", **({"tenant": tenant} if tenant else {})}
    start = client.get("/v1/auth/oidc/start", params=params)
    assert start.status_code == 303, start.text
    authorize = httpx.get(start.headers["location"])
    assert authorize.status_code == 302, authorize.text
    callback = client.get(authorize.headers["location"])
    return client, callback


def test_a_member_signs_in_through_the_provider(
    sso_server: ApiServer, provider: OidcProvider
) -> None:
    tenant = sso_server.tenant()
    email = add_person(sso_server, tenant.id, "developer")
    provider.user = {"sub": "user-123", "email": email.upper(), "email_verified": True}
    client, callback = _sign_in(sso_server)
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/agents"
    me = client.get("/v1/auth/me").json()
    assert me["user"]["email"] == email and me["session"]["method"] == "oidc"
    assert client.get("/v1/agents").status_code == 200
    sent = provider.token_requests[-1]
    assert sent["grant_type"] == "authorization_code" and len(sent["code_verifier"]) >= 43
    authorize_query = parse_qs(
        urlsplit(client.get("/v1/auth/oidc/start").headers["location"]).query
    )
    assert authorize_query["code_challenge_method"] == ["S256"]
    assert authorize_query["scope"] == ["openid email profile"]
    # The identity is bound: a later sign-in with another email claim still finds the person.
    provider.user = {"sub": "user-123", "email": "changed@example.com", "email_verified": True}
    _, again = _sign_in(sso_server)
    assert again.status_code == 303


@pytest.mark.parametrize("misbehave", ["nonce", "audience", "signature", "expired"])
def test_an_id_token_that_fails_a_check_is_refused(
    sso_server: ApiServer, provider: OidcProvider, misbehave: str
) -> None:
    tenant = sso_server.tenant()
    email = add_person(sso_server, tenant.id, "analyst")
    provider.user = {"sub": f"s-{misbehave}", "email": email, "email_verified": True}
    provider.misbehave = misbehave
    try:
        client, callback = _sign_in(sso_server)
    finally:
        provider.misbehave = None
    assert callback.status_code == 401, callback.text
    assert callback.json()["error"]["field"] == "id_token"
    assert client.get("/v1/auth/me").status_code == 401


def test_strangers_unverified_emails_and_forged_state_are_refused(
    sso_server: ApiServer, provider: OidcProvider
) -> None:
    provider.user = {"sub": "stranger", "email": new_email(), "email_verified": True}
    _, stranger = _sign_in(sso_server)
    assert stranger.status_code == 404
    tenant = sso_server.tenant()
    email = add_person(sso_server, tenant.id, "analyst")
    provider.user = {"sub": "unverified", "email": email, "email_verified": False}
    _, unverified = _sign_in(sso_server)
    assert unverified.status_code == 404

    provider.user = {"sub": "forger", "email": email, "email_verified": True}
    client = httpx.Client(base_url=sso_server.base_url)
    start = client.get("/v1/auth/oidc/start")
    back = httpx.get(start.headers["location"]).headers["location"]
    code = parse_qs(urlsplit(back).query)["code"][0]
    forged = client.get("/v1/auth/oidc/callback", params={"code": code, "state": "forged"})
    assert forged.status_code == 401 and forged.json()["error"]["field"] == "state"
    no_cookie = httpx.get(back)
    assert no_cookie.status_code == 401
    client.close()


def test_an_open_redirect_is_not_possible(sso_server: ApiServer, provider: OidcProvider) -> None:
    tenant = sso_server.tenant()
    email = add_person(sso_server, tenant.id, "analyst")
    provider.user = {"sub": "redirect", "email": email, "email_verified": True}
    client = httpx.Client(base_url=sso_server.base_url)
    start = client.get("/v1/auth/oidc/start", params={"next": "//evil.example/x"})
    callback = client.get(httpx.get(start.headers["location"]).headers["location"])
    assert callback.status_code == 303 and callback.headers["location"] == "/"
    client.close()


def test_without_a_provider_single_sign_on_is_404(server: ApiServer) -> None:
    response = httpx.get(f"{server.base_url}/v1/auth/oidc/start")
    assert response.status_code == 404
