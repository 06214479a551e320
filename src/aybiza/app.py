"""The ASGI application: Twilio edge, REST API, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aybiza.api import calls as calls_api
from aybiza.api.errors import error_response
from aybiza.config import Settings
from aybiza.pipeline.phrases import PhraseCache
from aybiza.providers.registry import EngineRegistry
from aybiza.security.admin_key import load_or_create_admin_key
from aybiza.services.calls import CallService
from aybiza.services.seed import seed_demo_agent
from aybiza.store.database import Database
from aybiza.store.writer import StoreWriter
from aybiza.telephony import twilio_stream, twilio_webhook

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; resources open in its lifespan (database, writer, engines)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.database_url)
        await database.create_schema()
        await seed_demo_agent(database)
        writer = StoreWriter(database)
        writer.start()
        registry = EngineRegistry(settings)
        phrases = PhraseCache()
        app.state.settings = settings
        app.state.database = database
        app.state.writer = writer
        app.state.registry = registry
        app.state.admin_key = load_or_create_admin_key(settings.api_key, settings.data_dir)
        app.state.calls = CallService(database, writer, registry, phrases)
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            await writer.stop()
            await registry.aclose()
            await database.dispose()

    app = FastAPI(
        title="AYBIZA",
        version="0.1.0",
        summary="AI phone agents: Twilio in, speech recognition, conversation, speech out.",
        lifespan=lifespan,
    )
    app.include_router(twilio_webhook.router)
    app.include_router(twilio_stream.router)
    app.include_router(calls_api.router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return error_response(422, "invalid_request", str(first.get("msg", "invalid")), field)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=None)
    async def readyz(request: Request) -> JSONResponse:
        ready = bool(getattr(request.app.state, "ready", False))
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
