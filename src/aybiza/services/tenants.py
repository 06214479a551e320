"""Tenants and their API keys: create, authenticate, list, revoke."""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from aybiza.agents.errors import FieldError
from aybiza.errors import Forbidden, Invalid, NotFound, invalid
from aybiza.security.keys import generate_key, hash_key
from aybiza.security.permissions import Permission, covers
from aybiza.services.edge_events import EdgeEvents, key_created, key_revoked
from aybiza.store.database import Database
from aybiza.store.models import ApiKey, Tenant, utcnow
from aybiza.store.paging import Page
from aybiza.store.queries import active_key, count_live_calls, tenant_by_name
from aybiza.store.tenant_repository import TenantRepository

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
KEY_NAME = re.compile(r"^[^\x00-\x1f\x7f]{0,100}$")
MAX_CONCURRENT_CALLS = 100_000
# Bearer tokens longer than this are not ours; they are rejected before any hashing.
_MAX_KEY_CHARS = 200


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the API for a tenant: through one key (``key_id``; None for the operator
    key), or a signed-in person (``user_id``, their ``role`` there, their ``session_id``).
    ``scopes`` are the permissions held: the key's scopes, or the role's permissions."""

    tenant_id: str
    tenant_name: str
    key_id: str | None
    scopes: frozenset[str]
    user_id: str | None = None
    role: str | None = None
    session_id: str | None = None
    name: str = ""

    @property
    def kind(self) -> str:
        """``user``, ``key`` or ``operator``."""
        if self.user_id is not None:
            return "user"
        return "key" if self.key_id is not None else "operator"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``secret`` is shown once, only here."""

    row: ApiKey
    secret: str


class TenantService:
    """Tenants and keys. ``operator_key`` (``AYBIZA_API_KEY``) acts for ``operator_tenant``
    with every scope."""

    def __init__(
        self,
        database: Database,
        *,
        operator_key: str | None = None,
        operator_tenant: str = "demo",
        default_max_concurrent_calls: int = 10,
        edge: EdgeEvents | None = None,
    ) -> None:
        self._database = database
        # Told of new and revoked keys, so the edge's replica follows (docs/edge.md).
        self._edge = edge
        self._keys = TenantRepository(
            database, ApiKey, lambda ref: NotFound(f"no API key {ref!r}", field="id")
        )
        self._operator_key = operator_key
        self._operator_tenant = operator_tenant
        self._default_limit = default_max_concurrent_calls

    async def authenticate(self, secret: str) -> Principal | None:
        """The principal behind a bearer key; None for an unknown or revoked key."""
        if not secret or len(secret) > _MAX_KEY_CHARS:
            return None
        async with self._database.session() as session:
            if self._operator_key and hmac.compare_digest(
                secret.encode("utf-8", "surrogatepass"), self._operator_key.encode()
            ):
                tenant = await tenant_by_name(session, self._operator_tenant)
                if tenant is None:
                    return None
                return Principal(
                    tenant.id,
                    tenant.name,
                    None,
                    frozenset({Permission.ALL.value}),
                    name="AYBIZA_API_KEY",
                )
            found = await active_key(session, hash_key(secret))
        if found is None:
            return None
        key, tenant = found
        return Principal(tenant.id, tenant.name, key.id, frozenset(key.scopes), name=key.prefix)

    async def ensure_tenant(self, name: str, *, max_concurrent_calls: int | None = None) -> Tenant:
        """The tenant called ``name``, created when missing; the limit is set when given."""
        check_tenant_name(name)
        if max_concurrent_calls is not None:
            check_limit(max_concurrent_calls)
        async with self._database.writing() as session:
            tenant = await tenant_by_name(session, name)
            if tenant is None:
                tenant = Tenant(name=name, max_concurrent_calls=self._default_limit)
                session.add(tenant)
            if max_concurrent_calls is not None:
                tenant.max_concurrent_calls = max_concurrent_calls
            await session.flush()
            return tenant

    async def find(self, name: str) -> Tenant:
        """The tenant called ``name``; NotFound when there is none."""
        async with self._database.session() as session:
            tenant = await tenant_by_name(session, name)
        if tenant is None:
            raise NotFound(f"no tenant {name!r}", field="tenant")
        return tenant

    async def tenants(self) -> Sequence[Tenant]:
        """Every tenant, by name (for the operator's CLI)."""
        async with self._database.session() as session:
            return list((await session.execute(select(Tenant).order_by(Tenant.name))).scalars())

    async def tenant(self, tenant_id: str) -> tuple[Tenant, int]:
        """The tenant and how many of its calls are live."""
        async with self._database.session() as session:
            tenant = await session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound("no such tenant", field="tenant")
            return tenant, await count_live_calls(session, tenant.id)

    async def create_key(
        self,
        tenant_id: str,
        scopes: Sequence[str],
        *,
        name: str = "",
        granted_by: frozenset[str] | None = None,
    ) -> IssuedKey:
        """A new key for the tenant. ``granted_by`` is the creating key's scopes: a key can
        only hand out scopes it holds itself."""
        wanted = check_scopes(scopes)
        if not KEY_NAME.match(name):
            raise invalid("name", "at most 100 printable characters", name)
        if granted_by is not None and not covers(granted_by, wanted):
            raise invalid("scopes", "a key cannot grant scopes it does not hold itself", wanted)
        new = generate_key()
        row = ApiKey(
            tenant_id=tenant_id,
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
            scopes=wanted,
        )
        async with self._database.writing() as session:
            self._keys.add(session, tenant_id, row)
        if self._edge is not None:
            self._edge.send(key_created(row.key_hash, row.id, tenant_id, wanted))
        return IssuedKey(row=row, secret=new.secret)

    async def list_keys(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[ApiKey]:
        """The tenant's keys (revoked ones too), newest first."""
        return await self._keys.list(tenant_id, cursor=cursor, limit=limit)

    async def revoke_key(
        self, tenant_id: str, key_id: str, *, revoked_by: frozenset[str] | None = None
    ) -> ApiKey:
        """Revoke a key at once (it answers 401 from now on); revoking twice is harmless.
        ``revoked_by`` is the revoking key's scopes: a key can only revoke keys whose scopes
        it holds itself (or it could lock out a key more powerful than itself)."""
        async with self._database.writing() as session:
            key = await self._keys.get(session, tenant_id, key_id)
            if revoked_by is not None and not covers(revoked_by, key.scopes):
                lacking = [s for s in key.scopes if not covers(revoked_by, [s])]
                raise Forbidden(
                    "a key cannot revoke a key holding scopes it does not hold itself: "
                    + ", ".join(lacking),
                    field="id",
                    code="scope_exceeded",
                )
            newly = key.revoked_at is None
            if newly:
                key.revoked_at = utcnow()
        if newly:
            self._revoked([key.key_hash])
        return key

    async def revoke_by_prefix(self, tenant_name: str, prefix: str) -> int:
        """Revoke the tenant's keys that start with ``prefix`` (CLI); returns how many."""
        async with self._database.writing() as session:
            tenant = await tenant_by_name(session, tenant_name)
            if tenant is None:
                raise NotFound(f"no tenant {tenant_name!r}", field="tenant")
            keys = await self._keys.all(
                session,
                tenant.id,
                ApiKey.revoked_at.is_(None),
                (ApiKey.prefix == prefix) | (ApiKey.id == prefix),
            )
            for key in keys:
                key.revoked_at = utcnow()
        self._revoked([key.key_hash for key in keys])
        return len(keys)

    def _revoked(self, key_hashes: list[str]) -> None:
        if self._edge is not None:
            for key_hash in key_hashes:
                self._edge.send(key_revoked(key_hash))


def check_tenant_name(name: str) -> None:
    """Tenant names: 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit."""
    if not TENANT_NAME.match(name):
        raise invalid("tenant", "1-100 letters, digits, '.', '_' or '-'", name)


def check_limit(value: int) -> None:
    """Concurrency limits: 0 (no calls) up to ``MAX_CONCURRENT_CALLS``."""
    if not 0 <= value <= MAX_CONCURRENT_CALLS:
        raise invalid("max_concurrent_calls", f"between 0 and {MAX_CONCURRENT_CALLS}", value)


def check_scopes(scopes: Sequence[str]) -> list[str]:
    """The scopes, validated and de-duplicated in the order given."""
    known = {scope.value for scope in Permission}
    problems = [
        FieldError(f"scopes.{i}", f"unknown scope; one of {', '.join(sorted(known))}", scope)
        for i, scope in enumerate(scopes)
        if scope not in known
    ]
    if not scopes:
        problems.append(FieldError("scopes", "give at least one scope", []))
    if problems:
        raise Invalid(problems)
    return list(dict.fromkeys(scopes))
