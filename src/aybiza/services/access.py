"""Everything about people's access, built once per process: sessions, sign-in and its
lock-outs, people and invitations, second factors, single sign-on, threat alerts, the audit
log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aybiza.config import AccessSettings
from aybiza.security.secretbox import SecretBox
from aybiza.services.audit import AuditLog
from aybiza.services.invitations import Invitations
from aybiza.services.mfa import Mfa
from aybiza.services.oidc import SingleSignOn
from aybiza.services.passkeys import Passkeys
from aybiza.services.people import PeopleService
from aybiza.services.sessions import Sessions
from aybiza.services.sign_in import SignIn
from aybiza.services.sign_in_throttles import SignInThrottles
from aybiza.services.threats import ThreatAlerts
from aybiza.store.database import Database


@dataclass(frozen=True, slots=True)
class Access:
    """The access services of one process (``app.state.access``)."""

    audit: AuditLog
    threats: ThreatAlerts
    sessions: Sessions
    throttles: SignInThrottles
    sign_in: SignIn
    people: PeopleService
    invitations: Invitations
    mfa: Mfa
    passkeys: Passkeys
    sso: SingleSignOn | None

    @classmethod
    def build(
        cls,
        database: Database,
        box: SecretBox,
        settings: AccessSettings,
        wake: Callable[[], None] = lambda: None,
    ) -> Access:
        """The services over ``database``; ``wake`` is the webhook dispatcher's."""
        threats = ThreatAlerts(database, settings, wake)
        sessions = Sessions(database, settings)
        throttles = SignInThrottles(database, settings)
        return cls(
            audit=AuditLog(database),
            threats=threats,
            sessions=sessions,
            throttles=throttles,
            sign_in=SignIn(database, sessions, throttles, threats),
            people=PeopleService(database),
            invitations=Invitations(database, settings),
            mfa=Mfa(database, box),
            passkeys=Passkeys(database, sessions),
            sso=SingleSignOn(database, settings, box) if settings.oidc_enabled else None,
        )

    async def aclose(self) -> None:
        """Close what holds connections (the single sign-on client)."""
        if self.sso is not None:
            await self.sso.aclose()
