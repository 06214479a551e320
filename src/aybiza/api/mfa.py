"""``/v1/auth/mfa``: set up TOTP, pass the second factor with a TOTP or recovery code, renew
recovery codes, turn TOTP off. Wrong codes count as failed sign-ins (lock-outs apply)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from aybiza.api.auth import SESSION_COOKIE, access, client_address, signed_in_as
from aybiza.api.errors import error_responses
from aybiza.api.sign_in import MeOut, MfaOut, me
from aybiza.errors import Unauthenticated
from aybiza.services.mfa import Mfa
from aybiza.services.sessions import Sessions, SessionState, SignedIn
from aybiza.services.sign_in import Client, SignIn
from aybiza.services.sign_in_throttles import SignInThrottles

router = APIRouter(prefix="/v1/auth/mfa", tags=["second factor"])

_S = SessionState
Anyone = Annotated[SignedIn, Depends(signed_in_as())]
Active = Annotated[SignedIn, Depends(signed_in_as(_S.ACTIVE))]
# Setting a factor up: a complete session, or one that must set one up before anything else
# (never one that owes a factor it has: that would sidestep it).
Enrolling = Annotated[SignedIn, Depends(signed_in_as(_S.ACTIVE, _S.MFA_ENROLLMENT_REQUIRED))]
Owing = Annotated[SignedIn, Depends(signed_in_as(_S.MFA_REQUIRED))]


class CodeBody(BaseModel):
    """A code: six digits from the authenticator app, or a recovery code."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=6, max_length=40, pattern=r"^[A-Za-z0-9 -]+$")


class TotpSetup(BaseModel):
    """The new secret for the authenticator app (as text, and as the URI a QR code holds)."""

    secret: str
    otpauth_uri: str


class RecoveryCodes(BaseModel):
    """One-time recovery codes, shown this once: keep them somewhere safe."""

    recovery_codes: list[str]


@router.get("", response_model=MfaOut, responses=error_responses(401))
async def factors(request: Request, who: Anyone) -> MfaOut:
    """Your second factors, and whether this tenant requires one."""
    mfa: Mfa = access(request).mfa
    found = await mfa.factors(who.user.id)
    return MfaOut(
        required=who.tenant.mfa_required,
        totp=found.totp,
        passkeys=found.passkeys,
        recovery_codes_left=found.recovery_codes_left,
    )


@router.post("/totp", response_model=TotpSetup, responses=error_responses(401, 403, 409))
async def start_totp(request: Request, who: Enrolling) -> TotpSetup:
    """Begin setting up TOTP: add the secret to your authenticator app, then confirm."""
    mfa: Mfa = access(request).mfa
    setup = await mfa.start_totp(who.user.id)
    return TotpSetup(secret=setup.secret, otpauth_uri=setup.uri)


@router.post(
    "/totp/confirm", response_model=RecoveryCodes, responses=error_responses(401, 403, 409, 422)
)
async def confirm_totp(body: CodeBody, request: Request, who: Enrolling) -> RecoveryCodes:
    """Turn TOTP on with its first code; this session counts as verified."""
    mfa: Mfa = access(request).mfa
    codes = await mfa.confirm_totp(who.user.id, body.code)
    sessions: Sessions = access(request).sessions
    await sessions.passed_mfa(who.session.id)
    return RecoveryCodes(recovery_codes=codes)


@router.delete(
    "/totp", status_code=204, response_class=Response, responses=error_responses(401, 403, 409)
)
async def disable_totp(request: Request, who: Active) -> Response:
    """Turn TOTP off (refused while it is your only factor and a tenant requires one)."""
    mfa: Mfa = access(request).mfa
    await mfa.disable_totp(who.user.id)
    return Response(status_code=204)


@router.post("/totp/verify", response_model=MeOut, responses=error_responses(401, 403, 429))
async def verify_totp(body: CodeBody, request: Request, who: Owing) -> MeOut:
    """Pass the second factor with the current TOTP code."""
    mfa: Mfa = access(request).mfa
    return await passed_second_factor(
        request, who, lambda: mfa.verify_totp(who.user.id, body.code), "totp"
    )


@router.post("/recovery", response_model=MeOut, responses=error_responses(401, 403, 429))
async def use_recovery_code(body: CodeBody, request: Request, who: Owing) -> MeOut:
    """Pass the second factor with a recovery code (each works once)."""
    mfa: Mfa = access(request).mfa
    return await passed_second_factor(
        request, who, lambda: mfa.use_recovery_code(who.user.id, body.code), "recovery_code"
    )


@router.post(
    "/recovery-codes", response_model=RecoveryCodes, responses=error_responses(401, 403, 409)
)
async def renew_recovery_codes(request: Request, who: Active) -> RecoveryCodes:
    """New recovery codes; the old ones stop working."""
    mfa: Mfa = access(request).mfa
    return RecoveryCodes(recovery_codes=await mfa.new_recovery_codes(who.user.id))


async def passed_second_factor(
    request: Request, who: SignedIn, check: Callable[[], Awaitable[bool]], factor: str
) -> MeOut:
    """Unless the account is locked out: check the code, then mark the session verified or
    count the failure against the account."""
    throttles: SignInThrottles = access(request).throttles
    client = Client(client_address(request) or "", request.headers.get("user-agent", ""))
    await throttles.check(who.user.email, client.address)
    if not await check():
        sign_in: SignIn = access(request).sign_in
        await sign_in.failed(who.user.email, client, who.user, reason=factor)
        raise Unauthenticated(f"wrong {factor.replace('_', ' ')}", field="code")
    await throttles.succeeded(who.user.email)
    sessions: Sessions = access(request).sessions
    await sessions.passed_mfa(who.session.id)
    return await me(request, await _reloaded(request, who))


async def _reloaded(request: Request, who: SignedIn) -> SignedIn:
    sessions: Sessions = access(request).sessions
    token = request.cookies.get(SESSION_COOKIE, "")
    fresh = await sessions.authenticate(token)
    if fresh is None or fresh.session.id != who.session.id:
        raise Unauthenticated("the session ended", field="session")
    return fresh
