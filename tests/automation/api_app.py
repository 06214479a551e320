"""The ``/v1/tools`` and ``/v1/workflows`` routers on an app with the platform's real auth and
error handling, as ``app.py`` will mount them, served in-process over httpx."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from tests.fakes.loopback import LOOPBACK_NETWORKS, LoopbackOnlyNetwork

from aybiza.api import tools as tools_api
from aybiza.api import workflows as workflows_api
from aybiza.api.errors import install_error_handlers
from aybiza.automation.platform import Automation
from aybiza.automation.settings import AutomationSettings
from aybiza.config import AccessSettings, Settings
from aybiza.security.secretbox import SecretBox
from aybiza.services.access import Access
from aybiza.services.tenants import TenantService
from aybiza.store.database import Database


@dataclass
class ApiTenant:
    id: str
    key: str


@dataclass
class Api:
    app: FastAPI
    tenants: TenantService
    automation: Automation

    async def tenant(self, scopes: tuple[str, ...] = ("*",)) -> ApiTenant:
        row = await self.tenants.ensure_tenant(f"t-{secrets.token_hex(5)}")
        issued = await self.tenants.create_key(row.id, list(scopes), name="test")
        return ApiTenant(row.id, issued.secret)

    def client(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        )


@asynccontextmanager
async def automation_api(
    database: Database,
    box: SecretBox,
    options: AutomationSettings | None = None,
    settings: Settings | None = None,
) -> AsyncIterator[Api]:
    """The routers over ``database``; ``settings`` default to allowing loopback targets (the
    tests' receivers), and requests can reach nothing but loopback."""
    app = FastAPI()
    app.include_router(tools_api.router)
    app.include_router(workflows_api.router)
    install_error_handlers(app)
    automation = Automation(
        database,
        box,
        settings=settings or Settings(outbound_allow_cidrs=LOOPBACK_NETWORKS),
        automation=options or AutomationSettings(),
        network=LoopbackOnlyNetwork(),
    )
    tenants = TenantService(database)
    app.state.tenants, app.state.automation = tenants, automation
    app.state.access = Access.build(database, box, AccessSettings())
    try:
        yield Api(app, tenants, automation)
    finally:
        await automation.sender.aclose()
