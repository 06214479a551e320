"""Sign in through the form, the second factor page, sign out, the tenant switcher and the
invitation page; pages send a browser without a session to sign in."""

from __future__ import annotations

import re

import httpx
import pyotp
from tests.api.conftest import ApiServer
from tests.dashboard.pages import PASSWORD, browser, csrf, person, text_of

from aybiza.services.access import Access


def test_a_page_without_a_session_sends_the_browser_to_sign_in(site: ApiServer) -> None:
    response = site.client(None).get("/agents")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/agents"
    form = site.client(None).get("/sign-in")
    assert form.status_code == 200
    assert '<label for="email">Email</label>' in form.text
    assert "script-src 'self'" in form.headers["content-security-policy"]


def test_signing_in_opens_the_overview_and_signing_out_ends_the_session(site: ApiServer) -> None:
    tenant = site.tenant()
    email = person(site, tenant, "owner")
    client = browser(site, email)
    overview = client.get("/")
    assert overview.status_code == 200, overview.text
    assert "calls today" in text_of(overview.text)
    assert email in overview.text and tenant.name in overview.text
    out = client.post("/sign-out", data={"csrf_token": csrf(client)})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert client.get("/").status_code == 303


def test_a_wrong_password_is_shown_on_the_form(site: ApiServer) -> None:
    tenant = site.tenant()
    email = person(site, tenant, "developer")
    client = site.client(None)
    response = client.post("/sign-in", data={"email": email, "password": "wrong password"})
    assert response.status_code == 401
    assert 'role="alert"' in response.text and email in response.text
    assert "aybiza_session" not in response.headers.get("set-cookie", "")


def test_sign_in_never_redirects_to_another_site(site: ApiServer) -> None:
    tenant = site.tenant()
    email = person(site, tenant, "developer")
    client = httpx.Client(base_url=site.base_url, timeout=30)
    try:
        body = {"email": email, "password": PASSWORD, "next": "//evil.example/"}
        response = client.post("/sign-in", data=body)
        assert response.headers["location"] == "/"
    finally:
        client.close()


def test_a_form_without_the_csrf_token_is_refused(site: ApiServer) -> None:
    tenant = site.tenant()
    client = browser(site, person(site, tenant, "owner"))
    response = client.post("/sign-out", data={})
    assert response.status_code == 403
    assert client.get("/").status_code == 200


def test_the_tenant_switcher_changes_the_tenant_pages_show(site: ApiServer) -> None:
    first, second = site.tenant(), site.tenant()
    email = person(site, first, "owner")
    access: Access = site.app.state.access
    site.run(access.people.add(second.id, email, "analyst"))
    client = browser(site, email)
    assert f'<option value="{second.name}"' in client.get("/").text
    switched = client.post(
        "/switch-tenant", data={"tenant": second.name, "csrf_token": csrf(client)}
    )
    assert switched.status_code == 303
    page = client.get("/")
    assert f"tenant {second.name}" in text_of(page.text)
    assert "analyst" in page.text


def test_an_invitation_is_accepted_through_its_page(site: ApiServer) -> None:
    tenant = site.tenant()
    access: Access = site.app.state.access
    invited = site.run(
        access.invitations.invite(tenant.id, f"newcomer-{tenant.name}@example.com", "developer")
    )
    token = invited.token
    client = httpx.Client(base_url=site.base_url, timeout=30)
    try:
        form = client.get("/invitations/accept", params={"token": token})
        assert form.status_code == 200 and 'name="token"' in form.text and token in form.text
        weak = client.post("/invitations/accept", data={"token": token, "password": "short"})
        assert weak.status_code == 422 and 'role="alert"' in weak.text
        joined = client.post(
            "/invitations/accept", data={"token": token, "password": PASSWORD, "name": "New"}
        )
        assert joined.status_code == 303, joined.text
        assert client.get("/").status_code == 200
        again = client.post("/invitations/accept", data={"token": token, "password": PASSWORD})
        assert again.status_code == 404
    finally:
        client.close()


def test_a_person_with_a_second_factor_passes_it_on_the_mfa_page(site: ApiServer) -> None:
    tenant = site.tenant()
    email = person(site, tenant, "developer")
    access: Access = site.app.state.access
    member = site.run(access.people.find(tenant.id, email))
    enrollment = site.run(access.mfa.start_totp(member.user.id))
    code = pyotp.TOTP(enrollment.secret).now()
    recovery = site.run(access.mfa.confirm_totp(member.user.id, code))
    client = httpx.Client(base_url=site.base_url, timeout=30)
    try:
        signed = client.post("/sign-in", data={"email": email, "password": PASSWORD})
        assert signed.status_code == 303 and signed.headers["location"] == "/mfa"
        # Until the second factor is passed no page opens.
        assert client.get("/agents").headers["location"] == "/mfa"
        form = client.get("/mfa")
        assert '<label for="code">' in form.text
        token = client.cookies["aybiza_csrf"]
        wrong = client.post("/mfa", data={"code": "000000", "csrf_token": token})
        assert wrong.status_code == 401 and 'role="alert"' in wrong.text
        passed = client.post("/mfa", data={"code": recovery[0], "csrf_token": token})
        assert passed.status_code == 303 and passed.headers["location"] == "/"
        assert client.get("/").status_code == 200
    finally:
        client.close()


def test_a_person_a_tenant_makes_set_up_a_factor_does_it_on_the_authenticator_page(
    site: ApiServer,
) -> None:
    tenant = site.tenant()
    email = person(site, tenant, "developer")
    access: Access = site.app.state.access
    site.run(access.people.set_mfa_required(tenant.id, True))
    client = httpx.Client(base_url=site.base_url, timeout=30)
    try:
        signed = client.post("/sign-in", data={"email": email, "password": PASSWORD})
        assert signed.headers["location"] == "/mfa"
        assert 'href="/mfa/totp"' in client.get("/mfa").text
        token = client.cookies["aybiza_csrf"]
        assert client.post("/mfa/totp", data={}).status_code == 403, "no CSRF token, no secret"
        start = client.post("/mfa/totp", data={"csrf_token": token})
        assert start.status_code == 200, start.text
        found = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', start.text)
        assert found is not None
        assert 'src="data:image/svg+xml' in start.text
        assert "'self'" in start.headers["content-security-policy"]
        wrong = client.post("/mfa/totp/confirm", data={"code": "000000", "csrf_token": token})
        assert wrong.status_code == 422 and 'role="alert"' in wrong.text
        assert client.get("/agents").headers["location"] == "/mfa", "not on before a good code"
        code = pyotp.TOTP(found.group(1)).now()
        done = client.post("/mfa/totp/confirm", data={"code": code, "csrf_token": token})
        assert done.status_code == 200, done.text
        shown = re.findall(r"<li><code>([^<]+)</code></li>", done.text)
        assert len(shown) >= 8
        assert client.get("/agents").status_code == 200, "this session passed the factor"
        again = client.get("/mfa/totp")
        assert "already your second factor" in again.text
    finally:
        client.close()
    # The codes shown are the person's: one of them passes the factor at the next sign-in.
    member = site.run(access.people.find(tenant.id, email))
    assert site.run(access.mfa.use_recovery_code(member.user.id, shown[0]))
