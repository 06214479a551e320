"""``/v1/auth/passkeys``: WebAuthn registration and authentication ceremonies as JSON (the
options for ``navigator.credentials`` and the browser's answers), list and remove passkeys.
The page at ``/auth/passkeys`` (``aybiza.api.passkey_page``) runs them in a browser."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from aybiza.api.auth import access, signed_in_as
from aybiza.api.errors import error_responses
from aybiza.api.mfa import passed_second_factor
from aybiza.api.sign_in import MeOut
from aybiza.config import Settings
from aybiza.services.passkeys import Passkeys, RelyingParty
from aybiza.services.sessions import Sessions, SessionState, SignedIn
from aybiza.store.people_models import Passkey

router = APIRouter(prefix="/v1/auth/passkeys", tags=["second factor"])

_S = SessionState
Active = Annotated[SignedIn, Depends(signed_in_as(_S.ACTIVE))]
Enrolling = Annotated[SignedIn, Depends(signed_in_as(_S.ACTIVE, _S.MFA_ENROLLMENT_REQUIRED))]
Proving = Annotated[SignedIn, Depends(signed_in_as(_S.ACTIVE, _S.MFA_REQUIRED))]


class NewPasskey(BaseModel):
    """The browser's ``PublicKeyCredential`` from ``navigator.credentials.create`` (as JSON,
    binary fields base64url) and a name to tell passkeys apart."""

    model_config = ConfigDict(extra="forbid")
    credential: dict[str, Any]
    name: str = Field(default="passkey", max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")


class PasskeyAnswer(BaseModel):
    """The browser's ``PublicKeyCredential`` from ``navigator.credentials.get``."""

    model_config = ConfigDict(extra="forbid")
    credential: dict[str, Any]


class PasskeyOut(BaseModel):
    """A passkey as listed (never its key)."""

    id: str
    name: str
    transports: list[str]
    created_at: datetime
    last_used_at: datetime | None


def relying_party(request: Request) -> RelyingParty:
    """The site passkeys belong to: ``AYBIZA_PUBLIC_URL``'s origin when set, else the
    request's; its id is ``AYBIZA_WEBAUTHN_RP_ID`` or that origin's host."""
    settings: Settings = request.app.state.settings
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        origin, host = f"{parts.scheme}://{parts.netloc}", parts.hostname or ""
    else:
        origin = f"{request.url.scheme}://{request.url.netloc}"
        host = request.url.hostname or ""
    return RelyingParty(settings.access.webauthn_rp_id or host, "AYBIZA", origin)


def _out(row: Passkey) -> PasskeyOut:
    return PasskeyOut(
        id=row.id,
        name=row.name,
        transports=list(row.transports),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def _service(request: Request) -> Passkeys:
    service: Passkeys = access(request).passkeys
    return service


@router.post("/registration-options", responses=error_responses(401, 403))
async def registration_options(request: Request, who: Enrolling) -> dict[str, Any]:
    """Options for ``navigator.credentials.create`` (``PublicKeyCredentialCreationOptions``
    as JSON, binary fields base64url)."""
    return await _service(request).registration_options(who, relying_party(request))


@router.post(
    "", status_code=201, response_model=PasskeyOut, responses=error_responses(401, 403, 422)
)
async def register_passkey(body: NewPasskey, request: Request, who: Enrolling) -> PasskeyOut:
    """Keep the passkey the browser made; this session counts as verified."""
    row = await _service(request).register(who, relying_party(request), body.credential, body.name)
    sessions: Sessions = access(request).sessions
    await sessions.passed_mfa(who.session.id)
    return _out(row)


@router.get("", response_model=list[PasskeyOut], responses=error_responses(401))
async def list_passkeys(request: Request, who: Active) -> list[PasskeyOut]:
    """Your passkeys."""
    return [_out(row) for row in await _service(request).list(who.user.id)]


@router.delete(
    "/{passkey_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 409),
)
async def remove_passkey(passkey_id: str, request: Request, who: Active) -> Response:
    """Remove one of your passkeys."""
    await _service(request).remove(who.user.id, passkey_id)
    return Response(status_code=204)


@router.post("/authentication-options", responses=error_responses(401, 403, 404))
async def authentication_options(request: Request, who: Proving) -> dict[str, Any]:
    """Options for ``navigator.credentials.get`` with your passkeys."""
    return await _service(request).authentication_options(who, relying_party(request))


@router.post("/authentication", response_model=MeOut, responses=error_responses(401, 403, 422, 429))
async def authenticate_passkey(body: PasskeyAnswer, request: Request, who: Proving) -> MeOut:
    """Pass the second factor with a passkey."""
    service, rp = _service(request), relying_party(request)
    return await passed_second_factor(
        request, who, lambda: service.authenticate(who, rp, body.credential), "passkey"
    )
