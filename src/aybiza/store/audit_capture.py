"""Every change to an audited table is written to the audit log in the same transaction.

``Database`` sessions are ``AuditedSession``s: the rows of audited tables that a transaction
inserted, changed or deleted become audit events, written just before it commits (``agent.created``,
``phone_number.updated``, ``api_key.revoked``...) with the columns before and after (only the
changed ones for an update), secrets masked, by the current actor. The services need no audit
calls of their own for changes to their rows; events that are not row changes (a sign-in, a
call hung up, a security alert) are recorded with ``aybiza.store.audit_log.record``.

Another package audits its table with ``audit_changes_of(Model, "kind")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from aybiza.store.audit_log import AuditEntry, append, current_actor
from aybiza.store.automation_models import ToolDefinition, Workflow
from aybiza.store.models import (
    Agent,
    AgentVersion,
    ApiKey,
    Base,
    PhoneNumber,
    Tenant,
    WebhookEndpoint,
    utcnow,
)
from aybiza.store.people_models import Invitation, Membership, Passkey, User

# A change of one of these from null to a time is a deletion or a revocation, not an update.
_ENDINGS = {"deleted_at": "deleted", "revoked_at": "revoked", "accepted_at": "accepted"}


@dataclass(frozen=True, slots=True)
class Audited:
    """How a table's changes are recorded: ``kind`` names its events; changes to ``quiet``
    columns alone are not recorded (counters, last-used times); ``tenant`` is the column
    holding the tenant (None: the acting tenant, for tables such as users)."""

    kind: str
    quiet: frozenset[str] = frozenset()
    tenant: str | None = "tenant_id"


_AUDITED: dict[type[Base], Audited] = {}


def audit_changes_of(
    model: type[Base], kind: str, *, quiet: tuple[str, ...] = (), tenant: str | None = "tenant_id"
) -> None:
    """Record every change to ``model``'s rows as ``<kind>.created/updated/deleted``."""
    _AUDITED[model] = Audited(kind, frozenset({"updated_at", *quiet}), tenant)


class AuditedSession(Session):
    """The ORM session ``Database`` hands out: its flushes write audit events."""


_PENDING = "aybiza.audit.pending"
_Key = tuple[str, str]


@event.listens_for(AuditedSession, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    """Collect the flush's changes; several flushes of one row in one transaction (created,
    then published) become one event."""
    pending: dict[_Key, AuditEntry] = session.info.setdefault(_PENDING, {})
    for key, entry in _changes(session):
        pending[key] = _merge(pending[key], entry) if key in pending else entry


@event.listens_for(AuditedSession, "before_commit")
def _before_commit(session: Session) -> None:
    """Write the transaction's events just before it commits (with the changes they
    describe, or not at all)."""
    session.flush()
    pending: dict[_Key, AuditEntry] = session.info.pop(_PENDING, {})
    entries = [entry for entry in pending.values() if entry.action]
    if not entries:
        return
    actor, at = current_actor(), utcnow()
    connection = session.connection()
    for entry in entries:
        append(connection, entry, actor, at)


@event.listens_for(AuditedSession, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _merge(first: AuditEntry, then: AuditEntry) -> AuditEntry:
    """One event for two changes of the same row in one transaction (an empty ``action``:
    created and deleted again, nothing to record)."""
    verb = first.action.rpartition(".")[2]
    later = then.action.rpartition(".")[2]
    if verb == "created":
        if later == "deleted":
            return replace(first, action="")
        return replace(first, after={**(first.after or {}), **(then.after or {})})
    if later == "deleted":
        return replace(then, before={**(then.before or {}), **(first.before or {})})
    return replace(
        then,
        action=first.action if verb != "updated" else then.action,
        before={**(then.before or {}), **(first.before or {})},
        after={**(first.after or {}), **(then.after or {})},
    )


def _changes(session: Session) -> Iterator[tuple[_Key, AuditEntry]]:
    actor_tenant = current_actor().tenant_id
    for row in session.new:
        audited = _AUDITED.get(type(row))
        if audited is not None:
            yield _key(row), _entry(audited, row, "created", None, _values(row), actor_tenant)
    for row in session.dirty:
        audited = _AUDITED.get(type(row))
        if audited is None:
            continue
        changed = _changed(row)
        if not set(changed) - audited.quiet:
            continue
        ending = next(
            (
                name
                for column, name in _ENDINGS.items()
                if column in changed and not changed[column][0]
            ),
            "updated",
        )
        before = {key: old for key, (old, _) in changed.items()}
        after = {key: new for key, (_, new) in changed.items()}
        yield _key(row), _entry(audited, row, ending, before, after, actor_tenant)
    for row in session.deleted:
        audited = _AUDITED.get(type(row))
        if audited is not None:
            yield _key(row), _entry(audited, row, "deleted", _values(row), None, actor_tenant)


def _key(row: Base) -> _Key:
    return type(row).__tablename__, str(getattr(row, "id", id(row)))


def _entry(
    audited: Audited,
    row: Base,
    verb: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor_tenant: str | None,
) -> AuditEntry:
    tenant = getattr(row, audited.tenant) if audited.tenant else actor_tenant
    return AuditEntry(
        action=f"{audited.kind}.{verb}",
        target_type=audited.kind,
        target_id=getattr(row, "id", None),
        tenant_id=tenant,
        before=before,
        after=after,
    )


def _values(row: Base) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs}


def _changed(row: Base) -> dict[str, tuple[Any, Any]]:
    """Each changed column: (value before, value after); before is None when not loaded."""
    state = inspect(row)
    changed: dict[str, tuple[Any, Any]] = {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old != new:
                changed[attr.key] = (old, new)
    return changed


audit_changes_of(Tenant, "tenant", tenant="id")
audit_changes_of(ApiKey, "api_key")
audit_changes_of(Agent, "agent")
audit_changes_of(AgentVersion, "agent_version")
audit_changes_of(PhoneNumber, "phone_number")
audit_changes_of(WebhookEndpoint, "webhook")
audit_changes_of(ToolDefinition, "tool")
audit_changes_of(Workflow, "workflow")
audit_changes_of(User, "user", quiet=("totp_last_step",), tenant=None)
audit_changes_of(Membership, "membership")
audit_changes_of(Invitation, "invitation")
audit_changes_of(Passkey, "passkey", quiet=("sign_count", "last_used_at"), tenant=None)
