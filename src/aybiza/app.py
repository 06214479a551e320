"""The ASGI application: Twilio edge, REST API, health and metrics."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aybiza import collector
from aybiza.analytics.cost import PriceTable
from aybiza.analytics.events import CallEvents
from aybiza.api import agents as agents_api
from aybiza.api import calls as calls_api
from aybiza.api import keys as keys_api
from aybiza.api import numbers as numbers_api
from aybiza.api import tools as tools_api
from aybiza.api import webhooks as webhooks_api
from aybiza.api import workflows as workflows_api
from aybiza.api.edge import install_edge_guards, rate_buckets
from aybiza.api.errors import install_error_handlers
from aybiza.api.openapi import install_openapi
from aybiza.automation.platform import Automation
from aybiza.config import Settings, check_startup
from aybiza.outbound.connector import Network
from aybiza.outbound.guard import Guard
from aybiza.outbound.sender import Sender
from aybiza.pipeline.phrases import PhraseCache
from aybiza.providers.registry import EngineRegistry
from aybiza.security.secretbox import load_master_key, secret_box
from aybiza.services.agents import AgentService
from aybiza.services.call_assembly import CallAssembly
from aybiza.services.call_leases import CallLeases
from aybiza.services.call_records import CallRecords
from aybiza.services.calls import CallService
from aybiza.services.drain import Drain
from aybiza.services.live_calls import LiveCalls
from aybiza.services.numbers import NumberService
from aybiza.services.outbound_calls import OutboundCalls
from aybiza.services.seed import DEMO_TENANT, seed_demo
from aybiza.services.tenants import TenantService
from aybiza.services.webhook_dispatch import WebhookDispatcher
from aybiza.services.webhooks import WebhookService
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.probe import DatabaseProbe
from aybiza.store.writer import StoreWriter
from aybiza.telephony.provisioning import NumberProvisioner
from aybiza.telephony.twilio import stream as twilio_stream
from aybiza.telephony.twilio import webhook as twilio_webhook
from aybiza.telephony.twilio.accounts import TwilioAccounts
from aybiza.telephony.twilio.carrier import TwilioCarrier
from aybiza.telephony.twilio.provisioning import TwilioProvisioner
from aybiza.telephony.twilio.rest import TwilioRest
from aybiza.telephony.twilio.sms import TwilioMessaging

log = structlog.get_logger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    provisioner: NumberProvisioner | None = None,
    rng: random.Random | None = None,
    freeze_heap: bool = False,
    network: Network | None = None,
) -> FastAPI:
    """Build the app; resources open in its lifespan (database, writer, engines, dispatcher).

    ``provisioner`` does the carrier side of phone numbers (default: Twilio's REST API for
    ``managed`` numbers and imported ``twilio`` numbers, records only for the rest);
    ``rng`` drives weighted A/B routing (tests seed it); ``freeze_heap`` (the server's own
    processes, see ``create_server_app``) takes what start-up loaded out of the garbage
    collector's sight (``aybiza.collector``); ``network`` opens the sockets of requests to
    customers' URLs (tests give one that opens loopback connections only)."""
    settings = settings or Settings.from_env()
    buckets = rate_buckets(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for risk in check_startup(settings):
            log.warning(f"startup.{risk.name}", risk=risk.message)
        prices = PriceTable.from_json(settings.prices)
        database = Database(settings.database_url)
        await upgrade_to_head(database)
        box = secret_box(load_master_key(settings.secret_key, settings.data_dir))
        limit = settings.default_max_concurrent_calls
        await seed_demo(database, settings.data_dir, default_max_concurrent_calls=limit)
        writer = StoreWriter(database)
        sender = Sender(Guard(settings.outbound_allow_cidrs), network=network)
        dispatcher = WebhookDispatcher(
            database,
            box,
            sender,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
            poll_s=settings.webhook_poll_s,
        )
        writer.start()
        probe = DatabaseProbe(database, interval_s=settings.database_probe_s)
        probe.start()
        live = LiveCalls()
        live.start_polling(database, settings.hangup_poll_s)
        drain = Drain(live, writer, drain_s=settings.drain_s)
        registry = EngineRegistry(settings)
        registry.preload()
        state = app.state
        state.settings, state.database, state.writer, state.registry = (
            settings,
            database,
            writer,
            registry,
        )
        state.tenants = TenantService(
            database,
            operator_key=settings.api_key,
            operator_tenant=DEMO_TENANT,
            default_max_concurrent_calls=limit,
        )
        state.agents = AgentService(database, registry.check)
        accounts = TwilioAccounts(settings, box, TwilioRest(settings.twilio_api_url))
        state.twilio_accounts = accounts
        state.numbers = NumberService(database, box, provisioner or TwilioProvisioner(accounts))
        state.webhooks = WebhookService(database, box, sender.guard)
        events = CallEvents(prices, dispatcher.wake)
        writer.on_commit(events.wake_if_queued)
        automation = Automation(
            database,
            box,
            settings=settings,
            registry=registry,
            writer=writer,
            sender=sender,
            messaging=TwilioMessaging(accounts),
        )
        writer.on_commit(automation.wake_if_runs_created)
        events.call_ended_hooks.append(automation.call_ended)
        state.automation = automation
        outbound = OutboundCalls(database, [TwilioCarrier(accounts)], events, rng, drain=drain)
        leases = CallLeases(database, live, events, lease_s=settings.call_lease_s)
        state.outbound_calls = outbound
        state.call_records = CallRecords(database, prices, live, writer, outbound)
        state.calls = CallService(
            database,
            writer,
            CallAssembly(registry, PhraseCache(), automation),
            outbound=outbound,
            live=live,
            events=events,
            rng=rng,
            operator_tenant=DEMO_TENANT,
            leases=leases,
            drain=drain,
        )
        state.drain = drain
        dispatcher.start()
        await automation.start()
        await leases.start()
        drain.install()
        state.ready = True
        if freeze_heap:
            collector.freeze()
        try:
            yield
        finally:
            state.ready = False
            drain.uninstall()
            await leases.stop()
            await live.stop()
            await automation.stop()
            await writer.stop()
            await probe.stop()
            await dispatcher.stop()
            await sender.aclose()
            await accounts.rest.aclose()
            await registry.aclose()
            await database.dispose()
            await buckets.aclose()

    app = FastAPI(
        title="AYBIZA",
        version="0.1.0",
        summary="AI phone agents: Twilio in, speech recognition, conversation, speech out.",
        description="Multi-tenant platform API. Authenticate with `Authorization: Bearer <key>`; "
        'every error is JSON `{"error": {"code", "message", "field"}}`.',
        lifespan=lifespan,
    )
    app.include_router(twilio_webhook.router)
    app.include_router(twilio_stream.router)
    for api in (
        agents_api,
        numbers_api,
        calls_api,
        webhooks_api,
        keys_api,
        tools_api,
        workflows_api,
    ):
        app.include_router(api.router)
    install_error_handlers(app)
    install_openapi(app)
    install_edge_guards(app, settings, buckets)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=None)
    async def readyz(request: Request) -> JSONResponse:
        """The process has opened its database and engines, is not draining, and the database
        is reachable (503 naming it while it is not: docs/operations.md, "Database outage")."""
        state = request.app.state
        ready = bool(getattr(state, "ready", False))
        drain: Drain | None = getattr(state, "drain", None)
        if drain is not None and drain.draining:
            return JSONResponse({"ready": False, "draining": True}, status_code=503)
        body: dict[str, object] = {"ready": ready}
        database: Database | None = getattr(state, "database", None)
        if database is not None:
            body["database"] = database.health.status()
            if not database.health.reachable:
                body["ready"], body["unavailable"] = False, ["database"]
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus text format."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def create_server_app() -> FastAPI:
    """The app as ``aybiza serve`` runs it, in each worker process: settings from the
    environment, and the start-up heap frozen out of the garbage collector's way."""
    return create_app(freeze_heap=True)
