"""TOTP with real codes, recovery codes, and the owner's MFA requirement over the real API
(issue 13, item 2)."""

from __future__ import annotations

import time

import pyotp
from tests.api.conftest import ApiServer
from tests.people.helpers import add_person, sign_in


def _code(secret: str, steps_ahead: int = 0) -> str:
    """A real code of the authenticator app (``steps_ahead``: a later 30-second step, as a
    phone a little ahead of the server's clock shows; a code works only once)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def test_totp_set_up_then_required_at_the_next_sign_in(server: ApiServer) -> None:
    tenant = server.tenant()
    email = add_person(server, tenant.id, "owner")
    client = sign_in(server, email)
    setup = client.post("/v1/auth/mfa/totp")
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/AYBIZA:")
    wrong = client.post("/v1/auth/mfa/totp/confirm", json={"code": "000000"})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "code"
    # The code confirmed now, kept: the 30 s step may roll over before it is tried again.
    first_code = _code(secret)
    confirmed = client.post("/v1/auth/mfa/totp/confirm", json={"code": first_code})
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/v1/auth/mfa").json() == {
        "required": False,
        "totp": True,
        "passkeys": 0,
        "recovery_codes_left": 10,
    }

    later = sign_in(server, email)
    assert later.get("/v1/auth/me").json()["state"] == "mfa_required"
    blocked = later.get("/v1/agents")
    assert blocked.status_code == 401 and blocked.json()["error"]["code"] == "mfa_required"
    # A session that owes its factor cannot set up another one to sidestep it.
    assert later.post("/v1/auth/mfa/totp").status_code == 401
    assert later.post("/v1/auth/mfa/totp/verify", json={"code": "123456"}).status_code == 401
    used_already = later.post("/v1/auth/mfa/totp/verify", json={"code": first_code})
    assert used_already.status_code == 401
    passed = later.post("/v1/auth/mfa/totp/verify", json={"code": _code(secret, 1)})
    assert passed.status_code == 200 and passed.json()["state"] == "active"
    assert later.get("/v1/agents").status_code == 200

    recovering = sign_in(server, email)
    used = recovering.post("/v1/auth/mfa/recovery", json={"code": codes[0].upper()})
    assert used.status_code == 200 and used.json()["state"] == "active"
    reuse = sign_in(server, email)
    assert reuse.post("/v1/auth/mfa/recovery", json={"code": codes[0]}).status_code == 401
    assert reuse.post("/v1/auth/mfa/recovery", json={"code": codes[1]}).status_code == 200
    assert reuse.get("/v1/auth/mfa").json()["recovery_codes_left"] == 8


def test_the_owner_requires_a_second_factor_of_everyone(server: ApiServer) -> None:
    tenant = server.tenant()
    owner = sign_in(server, add_person(server, tenant.id, "owner"))
    analyst_email = add_person(server, tenant.id, "analyst")
    analyst = sign_in(server, analyst_email)
    early = owner.put("/v1/tenant/security", json={"mfa_required": True})
    assert early.status_code == 409 and early.json()["error"]["code"] == "mfa_not_enrolled"
    secret = owner.post("/v1/auth/mfa/totp").json()["secret"]
    owner.post("/v1/auth/mfa/totp/confirm", json={"code": _code(secret)})
    assert owner.put("/v1/tenant/security", json={"mfa_required": True}).json() == {
        "mfa_required": True
    }
    assert analyst.get("/v1/tenant/security").status_code == 401
    blocked = analyst.get("/v1/agents")
    assert blocked.status_code == 401
    assert blocked.json()["error"]["code"] == "mfa_enrollment_required"
    assert analyst.get("/v1/auth/me").json()["state"] == "mfa_enrollment_required"
    # The analyst sets up TOTP from the partial session, and is in.
    own = analyst.post("/v1/auth/mfa/totp").json()["secret"]
    assert analyst.post("/v1/auth/mfa/totp/confirm", json={"code": _code(own)}).status_code == 200
    assert analyst.get("/v1/agents").status_code == 200
    # Their only factor cannot be turned off while the tenant requires one.
    refused = analyst.delete("/v1/auth/mfa/totp")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "mfa_required"
    # Keys are not people: they keep working.
    assert server.client(tenant.key).get("/v1/agents").status_code == 200
