"""WebAuthn passkeys (the seed's "biometrics"): registration and authentication ceremonies
through py_webauthn, with the challenge kept on the person's session until answered.

The relying party is the site the browser shows: its id is a domain (``localhost`` in
development), its origin the page's scheme, host and port. A passkey's signature counter is
checked and advanced on every use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from aybiza.errors import Conflict, NotFound, invalid
from aybiza.services.mfa import refresh_mfa_enabled, requires_mfa
from aybiza.services.sessions import Sessions, SignedIn
from aybiza.store.database import Database
from aybiza.store.models import utcnow
from aybiza.store.people_models import Passkey, User

CEREMONY_S = 300.0
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """The site passkeys are bound to."""

    id: str
    name: str
    origin: str


class Passkeys:
    """Passkeys of people; ``clock`` is the time."""

    def __init__(
        self, database: Database, sessions: Sessions, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._database = database
        self._sessions = sessions
        self.clock = clock

    async def registration_options(self, who: SignedIn, rp: RelyingParty) -> dict[str, Any]:
        """Options for ``navigator.credentials.create`` (a new passkey for the person)."""
        existing = await self.list(who.user.id)
        options = generate_registration_options(
            rp_id=rp.id,
            rp_name=rp.name,
            user_name=who.user.email,
            user_id=bytes.fromhex(who.user.id),
            user_display_name=who.user.name or who.user.email,
            timeout=int(CEREMONY_S * 1000),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[_descriptor(row) for row in existing],
        )
        await self._sessions.set_challenge(
            who.session.id, bytes_to_base64url(options.challenge), CEREMONY_S
        )
        document: dict[str, Any] = json.loads(options_to_json(options))
        return document

    async def register(
        self, who: SignedIn, rp: RelyingParty, credential: Mapping[str, Any], name: str
    ) -> Passkey:
        """Check the browser's answer to ``registration_options`` and keep the passkey."""
        challenge = await self._challenge(who)
        try:
            verified = verify_registration_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=rp.id,
                expected_origin=rp.origin,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise invalid("credential", f"the passkey was not accepted: {exc}") from exc
        transports = [
            t for t in _list(credential.get("response"), "transports") if t in _TRANSPORTS
        ]
        async with self._database.writing() as session:
            row = Passkey(
                user_id=who.user.id,
                credential_id=bytes_to_base64url(verified.credential_id),
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                name=(name or "passkey")[:100],
                transports=transports,
            )
            session.add(row)
            user = await session.get(User, who.user.id)
            assert user is not None
            await refresh_mfa_enabled(session, user)
        return row

    async def authentication_options(self, who: SignedIn, rp: RelyingParty) -> dict[str, Any]:
        """Options for ``navigator.credentials.get`` with the person's passkeys."""
        passkeys = await self.list(who.user.id)
        if not passkeys:
            raise NotFound("you have no passkey", field="passkey")
        options = generate_authentication_options(
            rp_id=rp.id,
            timeout=int(CEREMONY_S * 1000),
            allow_credentials=[_descriptor(row) for row in passkeys],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        await self._sessions.set_challenge(
            who.session.id, bytes_to_base64url(options.challenge), CEREMONY_S
        )
        document: dict[str, Any] = json.loads(options_to_json(options))
        return document

    async def authenticate(
        self, who: SignedIn, rp: RelyingParty, credential: Mapping[str, Any]
    ) -> bool:
        """Whether the browser's answer proves one of the person's passkeys."""
        challenge = await self._challenge(who)
        credential_id = str(credential.get("rawId") or credential.get("id") or "")
        async with self._database.writing() as session:
            found = await session.execute(
                select(Passkey).where(
                    Passkey.user_id == who.user.id, Passkey.credential_id == credential_id
                )
            )
            row = found.scalars().first()
            if row is None:
                return False
            try:
                verified = verify_authentication_response(
                    credential=dict(credential),
                    expected_challenge=challenge,
                    expected_rp_id=rp.id,
                    expected_origin=rp.origin,
                    credential_public_key=row.public_key,
                    credential_current_sign_count=row.sign_count,
                )
            except (WebAuthnException, ValueError, KeyError, TypeError):
                return False
            row.sign_count, row.last_used_at = verified.new_sign_count, self.clock()
            return True

    async def list(self, user_id: str) -> Sequence[Passkey]:
        """The person's passkeys, oldest first."""
        async with self._database.session() as session:
            rows = await session.execute(
                select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)
            )
            return list(rows.scalars())

    async def remove(self, user_id: str, passkey_id: str) -> None:
        """Delete one of the person's passkeys."""
        async with self._database.writing() as session:
            row = await session.get(Passkey, passkey_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"no passkey {passkey_id!r}", field="id")
            await session.delete(row)
            user = await session.get(User, user_id)
            assert user is not None
            await refresh_mfa_enabled(session, user)
            if not user.mfa_enabled and await requires_mfa(session, user_id):
                raise Conflict(
                    "a tenant of yours requires a second factor: this is your last one",
                    field="id",
                    code="mfa_required",
                )

    async def _challenge(self, who: SignedIn) -> bytes:
        challenge = await self._sessions.take_challenge(who.session.id)
        if challenge is None:
            raise invalid("credential", "no ceremony is under way: ask for options first")
        return base64url_to_bytes(challenge)


def _descriptor(row: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(row.credential_id),
        transports=[AuthenticatorTransport(t) for t in row.transports if t in _TRANSPORTS],
    )


def _list(value: object, key: str) -> list[str]:
    if isinstance(value, Mapping) and isinstance(value.get(key), list):
        return [str(item) for item in value[key]]
    return []
