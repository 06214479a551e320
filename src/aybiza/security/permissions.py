"""One permission table for people and API keys alike.

Every route checks one ``Permission``. An API key holds permissions directly (its *scopes*);
a person holds the permissions of their ``Role`` in the tenant they are signed in to. Both go
through ``grants``: ``*`` holds everything, and ``<resource>:write`` implies
``<resource>:read``. The table is printed in docs/security.md ("People and roles").
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    """What a route needs. ``*`` is everything (an owner, or an all-powerful key)."""

    ALL = "*"
    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"
    NUMBERS_READ = "numbers:read"
    NUMBERS_WRITE = "numbers:write"
    CALLS_READ = "calls:read"
    CALLS_WRITE = "calls:write"
    # Outbound campaigns and the do-not-call list.
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    # Transcripts, turns' texts, tool arguments and analysis of calls whose agent redacts PII:
    # without it they are withheld (the analyst role).
    TRANSCRIPTS_READ = "transcripts:read"
    # Call recordings (the audio itself): not the analyst's.
    RECORDINGS_READ = "recordings:read"
    WEBHOOKS_WRITE = "webhooks:write"
    KEYS_WRITE = "keys:write"
    PEOPLE_READ = "people:read"
    PEOPLE_WRITE = "people:write"
    AUDIT_READ = "audit:read"
    BILLING_READ = "billing:read"
    # The tenant's security settings (MFA required): the owner's.
    TENANT_WRITE = "tenant:write"
    # Erase everything stored about one caller (a GDPR request): owners and admins.
    CALLERS_ERASE = "callers:erase"


class Role(StrEnum):
    """A person's role in one tenant."""

    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    ANALYST = "analyst"
    BILLING = "billing"


_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: frozenset({_P.ALL}),
    Role.ADMIN: frozenset(p for p in _P if p not in (_P.ALL, _P.TENANT_WRITE)),
    Role.DEVELOPER: frozenset(
        {
            _P.AGENTS_WRITE,
            _P.NUMBERS_WRITE,
            _P.CALLS_WRITE,
            _P.CAMPAIGNS_WRITE,
            _P.TRANSCRIPTS_READ,
            _P.RECORDINGS_READ,
            _P.WEBHOOKS_WRITE,
            _P.KEYS_WRITE,
            _P.PEOPLE_READ,
        }
    ),
    Role.ANALYST: frozenset(
        {_P.AGENTS_READ, _P.NUMBERS_READ, _P.CALLS_READ, _P.CAMPAIGNS_READ, _P.PEOPLE_READ}
    ),
    Role.BILLING: frozenset({_P.CALLS_READ, _P.BILLING_READ, _P.PEOPLE_READ}),
}


def role_permissions(role: str) -> frozenset[str]:
    """What a person with ``role`` holds (nothing for a role this build does not know)."""
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def grants(held: Iterable[str], needed: Permission) -> bool:
    """True when ``held`` allows ``needed`` (``*``, the permission itself, or its ``:write``)."""
    held_set = set(held)
    if Permission.ALL in held_set or needed in held_set:
        return True
    resource, _, action = needed.partition(":")
    return action == "read" and f"{resource}:write" in held_set


def covers(held: Iterable[str], wanted: Iterable[str]) -> bool:
    """True when someone holding ``held`` may hand out ``wanted`` (a key they create, a role
    they give): nobody can hand out more than they have."""
    held_list = list(held)
    return all(
        Permission.ALL in held_list
        if item == Permission.ALL
        else grants(held_list, Permission(item))
        for item in wanted
    )


def role_covers(held: Iterable[str], role: Role) -> bool:
    """True when ``held`` covers everything ``role`` holds."""
    return covers(held, ROLE_PERMISSIONS[role])


def permission_table() -> list[tuple[str, dict[Role, bool]]]:
    """Each permission and which roles hold it (for the docs and the CLI)."""
    return [
        (permission.value, {role: grants(ROLE_PERMISSIONS[role], permission) for role in Role})
        for permission in Permission
        if permission is not Permission.ALL
    ]
