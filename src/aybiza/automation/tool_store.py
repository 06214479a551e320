"""Tenants' tool definitions: create, list, change, delete, rotate the signing secret, and load
the ones an agent uses. Every query is scoped by tenant, so no tool (and no secret) of one
tenant is ever visible to another."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aybiza.automation.tool_specs import (
    EMPTY_OBJECT_SCHEMA,
    ToolCreate,
    ToolOptions,
    ToolUpdate,
    definition_problems,
)
from aybiza.errors import Conflict, Invalid, NotFound
from aybiza.outbound.guard import Guard
from aybiza.security.secretbox import SecretBox
from aybiza.security.signing import new_webhook_secret
from aybiza.store.automation_models import ToolDefinition
from aybiza.store.database import Database
from aybiza.store.models import utcnow
from aybiza.store.paging import Page
from aybiza.store.tenant_repository import TenantRepository


@dataclass(frozen=True, slots=True)
class LoadedTool:
    """A tool ready to run: its definition with secrets opened (kept in memory only)."""

    name: str
    description: str
    kind: str
    parameters: dict[str, Any]
    options: ToolOptions = field(default_factory=ToolOptions)
    headers: dict[str, str] = field(default_factory=dict)
    secret: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolWithSecret:
    """A tool and its signing secret, in clear this once (create and rotate)."""

    tool: ToolDefinition
    secret: str


def stored_options(options: ToolOptions) -> dict[str, Any]:
    """The options as stored in clear: everything but the header values."""
    return options.model_dump(mode="json", exclude={"headers"}, exclude_none=True)


def header_names(row: ToolDefinition, box: SecretBox) -> list[str]:
    """Names of the headers a tool sends (their values are never shown)."""
    return sorted(_headers(row, box))


def _headers(row: ToolDefinition, box: SecretBox) -> dict[str, str]:
    if row.headers_sealed is None:
        return {}
    value = json.loads(box.open(row.headers_sealed))
    return {str(key): str(item) for key, item in value.items()}


class ToolService:
    """Business rules for tool definitions of one tenant at a time."""

    def __init__(self, database: Database, box: SecretBox, guard: Guard | None = None) -> None:
        self._database = database
        self._box = box
        # Only public targets may be configured unless the operator's allow-list says more.
        self._guard = guard if guard is not None else Guard()
        self._tools = TenantRepository(
            database, ToolDefinition, lambda ref: NotFound(f"no tool {ref}", field="tool_id")
        )

    async def create(self, tenant_id: str, spec: ToolCreate) -> ToolWithSecret:
        """Store a new tool with a fresh signing secret; 409 when the name is taken."""
        problems = definition_problems(
            spec.name, spec.kind, spec.parameters, spec.options, self._guard
        )
        if problems:
            raise Invalid(problems, code="invalid_tool")
        secret = new_webhook_secret()
        parameters = spec.parameters if spec.parameters is not None else {}
        if spec.kind == "http" and not parameters:
            parameters = dict(EMPTY_OBJECT_SCHEMA)
        row = ToolDefinition(
            tenant_id=tenant_id,
            name=spec.name,
            description=spec.description,
            kind=spec.kind,
            parameters=parameters,
            options=stored_options(spec.options),
            headers_sealed=self._seal_headers(spec.options.headers),
            secret_sealed=self._box.seal(secret),
        )
        taken = Conflict(f"a tool named {spec.name!r} already exists", field="name")
        await self._tools.insert_unique(
            tenant_id, row, ToolDefinition.name == spec.name, taken=taken
        )
        return ToolWithSecret(row, secret)

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[ToolDefinition]:
        """The tenant's tools, newest first."""
        return await self._tools.list(tenant_id, cursor=cursor, limit=limit)

    async def get(self, tenant_id: str, tool_id: str) -> ToolDefinition:
        """One tool of the tenant; NotFound otherwise."""
        return await self._tools.fetch(tenant_id, tool_id)

    async def update(self, tenant_id: str, tool_id: str, change: ToolUpdate) -> ToolDefinition:
        """Apply the fields given; the rules across fields are checked on the result."""
        async with self._database.writing() as session:
            row = await self._tools.get(session, tenant_id, tool_id)
            options = change.options or ToolOptions.model_validate(row.options)
            parameters = change.parameters if change.parameters is not None else row.parameters
            checked = parameters if row.kind == "http" else change.parameters
            headers = options.headers if options.headers is not None else _headers(row, self._box)
            probe = options.model_copy(update={"headers": headers or None})
            problems = definition_problems(row.name, row.kind, checked, probe, self._guard)
            if problems:
                raise Invalid(problems, code="invalid_tool")
            if change.description is not None:
                row.description = change.description
            row.parameters = parameters
            row.options = stored_options(options)
            if options.headers is not None:
                row.headers_sealed = self._seal_headers(options.headers)
            row.updated_at = utcnow()
            return row

    async def delete(self, tenant_id: str, tool_id: str) -> None:
        """Remove a tool (agents naming it simply stop offering it)."""
        await self._tools.delete(tenant_id, tool_id)

    async def rotate_secret(self, tenant_id: str, tool_id: str) -> ToolWithSecret:
        """A new signing secret, effective at once; returned this once."""
        secret = new_webhook_secret()
        sealed = self._box.seal(secret)
        row = await self._tools.update(
            tenant_id, tool_id, secret_sealed=sealed, updated_at=utcnow()
        )
        return ToolWithSecret(row, secret)

    async def load(self, tenant_id: str, names: Iterable[str]) -> dict[str, LoadedTool]:
        """The tenant's tools with these names, secrets opened, by name."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        async with self._database.session() as session:
            rows = await self._tools.all(session, tenant_id, ToolDefinition.name.in_(wanted))
            return {row.name: self._loaded(row) for row in rows}

    def _loaded(self, row: ToolDefinition) -> LoadedTool:
        return LoadedTool(
            name=row.name,
            description=row.description,
            kind=row.kind,
            parameters=row.parameters,
            options=ToolOptions.model_validate(row.options),
            headers=_headers(row, self._box),
            secret=self._box.open(row.secret_sealed),
            id=row.id,
        )

    def _seal_headers(self, headers: dict[str, str] | None) -> str | None:
        return self._box.seal(json.dumps(headers)) if headers else None
