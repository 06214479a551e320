"""People over the real API: sign-in cookies and CSRF, invitations, roles checked by the same
permission table as keys, sessions and their revocation, switching tenant (issue 13, item 1)."""

from __future__ import annotations

from typing import Any

import httpx
from tests.api.conftest import ApiServer
from tests.api.helpers import agent_body, create_agent
from tests.people.helpers import PASSWORD, add_person, new_email, sign_in

from aybiza.security.permissions import Role


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_sign_in_sets_an_httponly_samesite_session_cookie_and_a_csrf_cookie(
    server: ApiServer,
) -> None:
    tenant = server.tenant()
    email = add_person(server, tenant.id, "owner")
    client = httpx.Client(base_url=server.base_url)
    response = client.post("/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    assert "httponly" in cookies["aybiza_session"] and "samesite=lax" in cookies["aybiza_session"]
    assert "httponly" not in cookies["aybiza_csrf"] and "samesite=strict" in cookies["aybiza_csrf"]
    assert "max-age=43200" in cookies["aybiza_session"]
    body = response.json()
    assert body["state"] == "active" and body["tenant"]["name"] == tenant.name
    assert body["tenant"]["role"] == "owner" and body["permissions"] == ["*"]
    assert body["csrf_token"] == client.cookies["aybiza_csrf"]
    assert client.get("/v1/agents").status_code == 200
    # Changing something with the cookie alone is refused: the CSRF token must come too.
    refused = client.post("/v1/agents", json=agent_body())
    assert refused.status_code == 403 and _error(refused)["code"] == "csrf_failed"
    wrong = client.post("/v1/agents", json=agent_body(), headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    made = client.post(
        "/v1/agents", json=agent_body(), headers={"X-CSRF-Token": body["csrf_token"]}
    )
    assert made.status_code == 201, made.text
    client.close()


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(server: ApiServer) -> None:
    tenant = server.tenant()
    email = add_person(server, tenant.id, "developer")
    client = server.client(None)
    wrong = client.post("/v1/auth/sign-in", json={"email": email, "password": "not it at all"})
    unknown = client.post(
        "/v1/auth/sign-in", json={"email": new_email(), "password": "not it at all"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        _error(wrong)
        == _error(unknown)
        == {
            "code": "unauthorized",
            "message": "wrong email or password",
            "field": "password",
        }
    )


def test_an_invited_analyst_reads_but_cannot_change_or_see_people_admin(
    server: ApiServer,
) -> None:
    tenant = server.tenant()
    owner = sign_in(server, add_person(server, tenant.id, "owner"))
    agent = create_agent(owner)
    analyst_email = new_email("analyst")
    invited = owner.post("/v1/invitations", json={"email": analyst_email, "role": "analyst"})
    assert invited.status_code == 201, invited.text
    link = invited.json()["link"]
    assert link.startswith(f"{server.base_url}/invitations/accept?token=")
    token = link.partition("token=")[2]
    assert [i["email"] for i in owner.get("/v1/invitations").json()["data"]] == [analyst_email]

    browser = httpx.Client(base_url=server.base_url)
    weak = browser.post("/v1/auth/invitations/accept", json={"token": token, "password": "short"})
    assert weak.status_code == 422 and _error(weak)["field"] == "password"
    joined = browser.post(
        "/v1/auth/invitations/accept", json={"token": token, "password": PASSWORD, "name": "Ana"}
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["tenant"]["role"] == "analyst"
    browser.headers["X-CSRF-Token"] = joined.json()["csrf_token"]
    again = httpx.post(
        f"{server.base_url}/v1/auth/invitations/accept",
        json={"token": token, "password": PASSWORD},
    )
    assert again.status_code == 404 and _error(again)["field"] == "token"

    assert browser.get(f"/v1/agents/{agent['id']}").status_code == 200
    assert browser.get("/v1/calls").status_code == 200
    assert browser.get("/v1/users").status_code == 200
    for method, path, body in (
        ("POST", "/v1/agents", agent_body()),
        ("POST", "/v1/invitations", {"email": new_email(), "role": "analyst"}),
        ("GET", "/v1/keys", None),
        ("GET", "/v1/audit-events", None),
        ("GET", "/v1/webhooks", None),
        ("PUT", "/v1/tenant/security", {"mfa_required": True}),
    ):
        response = browser.request(method, path, json=body)
        assert response.status_code == 403, (path, response.text)
        assert _error(response)["code"] == "missing_permission"
        assert "your role 'analyst' lacks the permission" in _error(response)["message"]
    denied = browser.post("/v1/agents", json=agent_body())
    assert _error(denied)["required_scope"] == "agents:write"
    people = {p["email"]: p["role"] for p in owner.get("/v1/users").json()["data"]}
    assert people[analyst_email] == "analyst"
    browser.close()


def test_roles_are_changed_within_what_the_changer_holds(server: ApiServer) -> None:
    tenant = server.tenant()
    owner_email = add_person(server, tenant.id, "owner")
    admin = sign_in(server, add_person(server, tenant.id, "admin"))
    developer_email = add_person(server, tenant.id, "developer")
    people = {p["email"]: p["id"] for p in admin.get("/v1/users").json()["data"]}
    promoted = admin.patch(f"/v1/users/{people[developer_email]}", json={"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    to_owner = admin.patch(f"/v1/users/{people[developer_email]}", json={"role": "owner"})
    assert to_owner.status_code == 403
    demote_owner = admin.patch(f"/v1/users/{people[owner_email]}", json={"role": "analyst"})
    assert demote_owner.status_code == 403
    bad = admin.patch(f"/v1/users/{people[developer_email]}", json={"role": "emperor"})
    assert bad.status_code == 422 and _error(bad)["field"] == "role"

    owner = sign_in(server, owner_email)
    last = owner.patch(f"/v1/users/{people[owner_email]}", json={"role": "admin"})
    assert last.status_code == 409 and _error(last)["code"] == "last_owner"
    removed = owner.delete(f"/v1/users/{people[developer_email]}")
    assert removed.status_code == 204
    assert owner.get(f"/v1/users/{people[developer_email]}").status_code == 404


def test_a_removed_person_loses_their_session_at_once(server: ApiServer) -> None:
    tenant = server.tenant()
    owner = sign_in(server, add_person(server, tenant.id, "owner"))
    gone_email = add_person(server, tenant.id, "developer")
    gone = sign_in(server, gone_email)
    assert gone.get("/v1/agents").status_code == 200
    user_id = next(
        p["id"] for p in owner.get("/v1/users").json()["data"] if p["email"] == gone_email
    )
    assert owner.delete(f"/v1/users/{user_id}").status_code == 204
    assert gone.get("/v1/agents").status_code == 401


def test_sessions_are_listed_and_revoked_one_or_all_and_sign_out_ends_one(
    server: ApiServer,
) -> None:
    tenant = server.tenant()
    email = add_person(server, tenant.id, "developer")
    first, second, third = (sign_in(server, email) for _ in range(3))
    listed = first.get("/v1/auth/sessions").json()
    assert len(listed) == 3 and sum(s["current"] for s in listed) == 1
    second_id = second.get("/v1/auth/me").json()["session"]["id"]
    assert first.delete(f"/v1/auth/sessions/{second_id}").status_code == 204
    assert second.get("/v1/agents").status_code == 401
    assert third.get("/v1/agents").status_code == 200
    assert first.delete("/v1/auth/sessions").json() == {"revoked": 1}
    assert third.get("/v1/agents").status_code == 401
    assert first.get("/v1/agents").status_code == 200
    out = first.post("/v1/auth/sign-out")
    assert out.status_code == 204
    assert first.get("/v1/auth/me").status_code == 401
    # Someone else's session is nobody's business.
    other = sign_in(server, add_person(server, tenant.id, "developer"))
    mine = other.get("/v1/auth/me").json()["session"]["id"]
    fresh = sign_in(server, email)
    assert fresh.delete(f"/v1/auth/sessions/{mine}").status_code == 404
    assert other.get("/v1/agents").status_code == 200


def test_a_person_in_two_tenants_switches_between_them(server: ApiServer) -> None:
    first, second = server.tenant(), server.tenant()
    email = add_person(server, first.id, "developer")
    add_person(server, second.id, "analyst", email=email)
    create_agent(server.client(second.key), agent_body("Second's agent"))
    client = sign_in(server, email)
    me = client.get("/v1/auth/me").json()
    assert me["tenant"]["name"] == first.name
    assert {t["name"]: t["role"] for t in me["tenants"]} == {
        first.name: "developer",
        second.name: "analyst",
    }
    assert client.get("/v1/agents").json()["data"] == []
    switched = client.post("/v1/auth/switch-tenant", json={"tenant": second.name})
    assert switched.status_code == 200 and switched.json()["tenant"]["role"] == "analyst"
    assert [a["name"] for a in client.get("/v1/agents").json()["data"]] == ["Second's agent"]
    assert client.post("/v1/agents", json=agent_body()).status_code == 403
    stranger = server.tenant()
    refused = client.post("/v1/auth/switch-tenant", json={"tenant": stranger.name})
    assert refused.status_code == 404
    direct = sign_in(server, email, tenant=second.name)
    assert direct.get("/v1/auth/me").json()["tenant"]["name"] == second.name


def test_people_and_keys_share_one_permission_table(server: ApiServer) -> None:
    tenant = server.tenant()
    developer = sign_in(server, add_person(server, tenant.id, "developer"))
    # A person makes keys holding at most what their role holds.
    made = developer.post("/v1/keys", json={"scopes": ["agents:write", "calls:read"]})
    assert made.status_code == 201, made.text
    too_much = developer.post("/v1/keys", json={"scopes": ["audit:read"]})
    assert too_much.status_code == 422 and _error(too_much)["field"] == "scopes"
    key = server.client(made.json()["key"])
    assert key.get("/v1/agents").status_code == 200
    assert _error(key.get("/v1/users"))["required_scope"] == "people:read"
    auditor_key = server.client(server.key(tenant, ("audit:read",)))
    assert auditor_key.get("/v1/audit-events").status_code == 200
    assert auditor_key.get("/v1/agents").status_code == 403
    tenant_doc = developer.get("/v1/tenant").json()
    assert tenant_doc["key_id"] is None and "agents:write" in tenant_doc["scopes"]


def test_role_names_match_the_documented_table() -> None:
    assert [role.value for role in Role] == ["owner", "admin", "developer", "analyst", "billing"]
