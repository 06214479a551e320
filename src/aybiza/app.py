"""The ASGI application: Twilio edge, REST API, health and metrics."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from aybiza import collector
from aybiza.access_log import install_caller_path_filter
from aybiza.analytics import tracing
from aybiza.analytics.cost import PriceTable
from aybiza.analytics.events import CallEvents
from aybiza.api import agents as agents_api
from aybiza.api import analytics as analytics_api
from aybiza.api import audit as audit_api
from aybiza.api import calls as calls_api
from aybiza.api import campaigns as campaigns_api
from aybiza.api import data_policy as data_policy_api
from aybiza.api import do_not_call as do_not_call_api
from aybiza.api import edge_sync, health, passkey_page, talk_page
from aybiza.api import evals as evals_api
from aybiza.api import keys as keys_api
from aybiza.api import mfa as mfa_api
from aybiza.api import numbers as numbers_api
from aybiza.api import oidc as oidc_api
from aybiza.api import passkeys as passkeys_api
from aybiza.api import people as people_api
from aybiza.api import recordings as recordings_api
from aybiza.api import sign_in as sign_in_api
from aybiza.api import tools as tools_api
from aybiza.api import webhooks as webhooks_api
from aybiza.api import workflows as workflows_api
from aybiza.api.denied_watch import DeniedWatch
from aybiza.api.edge import install_edge_guards, rate_buckets
from aybiza.api.errors import install_error_handlers
from aybiza.api.openapi import install_openapi
from aybiza.api.route_warmup import warm_routes
from aybiza.automation.platform import Automation
from aybiza.background import BackgroundLoop
from aybiza.config import Settings, check_startup
from aybiza.dashboard.site import install_dashboard
from aybiza.loop_watch import LoopWatch
from aybiza.outbound.connector import Network
from aybiza.outbound.guard import Guard
from aybiza.outbound.sender import Sender
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.recognition_feed import SttBatching
from aybiza.providers.registry import EngineRegistry
from aybiza.providers.turn.model import warm_shared_model
from aybiza.security.caller_digest import caller_digest
from aybiza.security.master_keys import master_key_for
from aybiza.security.secretbox import load_master_key, secret_box
from aybiza.services.access import Access
from aybiza.services.agents import AgentService
from aybiza.services.analytics import Analytics
from aybiza.services.call_assembly import CallAssembly
from aybiza.services.call_leases import CallLeases
from aybiza.services.call_records import CallRecords
from aybiza.services.caller_erasure import CallerErasure
from aybiza.services.calls import CallService
from aybiza.services.campaign_dispatcher import CampaignDispatcher
from aybiza.services.campaigns import CampaignService
from aybiza.services.data_policy import DataPolicies
from aybiza.services.do_not_call import DoNotCallList
from aybiza.services.drain import Drain
from aybiza.services.edge_events import EdgeEvents
from aybiza.services.edge_replica import EdgeReplica
from aybiza.services.eval_runs import EvalService
from aybiza.services.live_calls import LiveCalls
from aybiza.services.numbers import NumberService
from aybiza.services.outbound_calls import OutboundCalls
from aybiza.services.recordings import Recordings
from aybiza.services.retention import RetentionSweep
from aybiza.services.seed import DEMO_TENANT, seed_demo
from aybiza.services.tenant_export import TenantExport
from aybiza.services.tenants import TenantService
from aybiza.services.webhook_dispatch import WebhookDispatcher
from aybiza.services.webhooks import WebhookService
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.probe import DatabaseProbe
from aybiza.store.recording_files import recording_store
from aybiza.store.writer import StoreWriter
from aybiza.telephony.browser.carrier import BrowserCarrier
from aybiza.telephony.provisioning import NumberProvisioner
from aybiza.telephony.sip.carrier import SipCarrier
from aybiza.telephony.sip.edge import start_sip
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
    warm_engines: bool = False,
) -> FastAPI:
    """Build the app; resources open in its lifespan (database, writer, engines, dispatcher).

    ``provisioner`` does the carrier side of phone numbers (default: Twilio's REST API for
    ``managed`` numbers and imported ``twilio`` numbers, records only for the rest);
    ``rng`` drives weighted A/B routing (tests seed it); ``freeze_heap`` (the server's own
    processes, see ``create_server_app``) takes what start-up loaded out of the garbage
    collector's sight (``aybiza.collector``); ``network`` opens the sockets of requests to
    customers' URLs (tests give one that opens loopback connections only); ``warm_engines``
    (the server's own processes) loads before the server is ready what a first call would
    otherwise load on the event loop (``EngineRegistry.warm``, and FastAPI's route state:
    ``aybiza.api.route_warmup``)."""
    settings = settings or Settings.from_env()
    buckets = rate_buckets(settings)
    install_caller_path_filter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for risk in check_startup(settings):
            log.warning(f"startup.{risk.name}", risk=risk.message)
        if tracing.configure(settings.otel_exporter_otlp_endpoint):
            log.info("startup.tracing", endpoint=settings.otel_exporter_otlp_endpoint)
        prices = PriceTable.from_json(settings.prices)
        database = Database(
            settings.database_url,
            read_url=settings.database_read_url,
            master_key=master_key_for(settings),
        )
        await upgrade_to_head(database)
        if database.field_keys is not None:
            await database.field_keys.load_all()
        master_key = load_master_key(settings.secret_key, settings.data_dir)
        box = secret_box(master_key)
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
        state = app.state
        state.access = Access.build(database, box, settings.access, dispatcher.wake)
        state.data_policies = DataPolicies(database)
        state.tenant_export = TenantExport(database, state.access.audit)
        writer.start()
        probe = DatabaseProbe(database, interval_s=settings.database_probe_s)
        probe.start()
        live = LiveCalls()
        live.start_polling(database, settings.hangup_poll_s)
        drain = Drain(live, writer, drain_s=settings.drain_s)
        registry = EngineRegistry(settings)
        registry.preload()
        if warm_engines:
            await registry.warm()
            await warm_shared_model()  # the end-of-turn model's session, off the event loop
        edge = EdgeEvents(settings.edge_event_urls, settings.edge_secret)
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
            edge=edge,
        )
        state.edge_replica = EdgeReplica(
            database, operator_key=settings.api_key, operator_tenant=DEMO_TENANT
        )
        state.agents = AgentService(database, registry.check, edge=edge)
        state.evals = EvalService(database)
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
        sip_carrier = SipCarrier(None, state.numbers.sip_password)
        outbound = OutboundCalls(
            database,
            [TwilioCarrier(accounts), sip_carrier, BrowserCarrier()],
            events,
            rng,
            drain=drain,
        )
        leases = CallLeases(database, live, events, lease_s=settings.call_lease_s)
        state.outbound_calls = outbound
        state.campaigns = CampaignService(database, outbound)
        state.do_not_call = DoNotCallList(database)
        campaign_dispatcher = CampaignDispatcher(
            database, outbound, poll_s=settings.campaign_poll_s
        )
        state.campaign_dispatcher = campaign_dispatcher
        events.call_ended_hooks.append(campaign_dispatcher.call_ended)
        state.call_records = CallRecords(database, prices, live, writer, outbound)
        state.analytics = Analytics(database, prices)
        state.recordings = Recordings(
            database,
            recording_store(
                settings.recordings_url,
                settings.data_dir,
                region=settings.aws_region or "us-east-1",
                endpoint_url=settings.recordings_endpoint_url,
            ),
            events,
            writer,
        )
        state.caller_erasure = CallerErasure(
            database, lambda n: caller_digest(master_key, n), state.recordings.store
        )
        retention = BackgroundLoop(
            "retention",
            RetentionSweep(database, state.recordings.store).step,
            interval_s=settings.retention_sweep_s,
        )
        state.calls = CallService(
            database,
            writer,
            CallAssembly(
                registry,
                PhraseCache(),
                automation,
                SttBatching(settings.stt_batch_quiet_ms, settings.stt_batch_speech_ms),
            ),
            outbound=outbound,
            live=live,
            events=events,
            rng=rng,
            operator_tenant=DEMO_TENANT,
            leases=leases,
            drain=drain,
            recordings=state.recordings,
        )
        state.drain = drain
        sip = await start_sip(
            settings, state.calls, database, state.numbers.sip_password, sender.guard, writer.flush
        )
        state.sip = sip
        sip_carrier.agent = sip.agent if sip is not None else None
        state.live = live
        dispatcher.start()
        await automation.start()
        await leases.start()
        campaign_dispatcher.start()
        retention.start()
        drain.install()
        if warm_engines:
            # FastAPI would build each router's routes at its first request, on the loop.
            warm_routes(app)
        state.ready = True
        if freeze_heap:
            collector.freeze()
        # Started last: start-up's own pauses (the freeze above) are not served calls'.
        loop_watch = LoopWatch()
        loop_watch.start()
        try:
            yield
        finally:
            state.ready = False
            await loop_watch.stop()
            drain.uninstall()
            if sip is not None:
                await sip.close()
            await campaign_dispatcher.stop()
            await retention.stop()
            await leases.stop()
            await live.stop()
            await state.recordings.wait_saved()
            await automation.stop()
            await writer.stop()
            await probe.stop()
            await dispatcher.stop()
            await state.access.aclose()
            await sender.aclose()
            await edge.aclose()
            await accounts.rest.aclose()
            await registry.aclose()
            await database.dispose()
            await buckets.aclose()
            tracing.shutdown()

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
    if settings.region_path:
        # A call's stream and callbacks come back through the edge to the region that took
        # the call: its TwiML names the region in the path (docs/edge.md).
        for carrier_routes in (twilio_webhook.router, twilio_stream.router):
            app.include_router(carrier_routes, prefix=settings.region_path, include_in_schema=False)
    app.include_router(edge_sync.router)
    for api in (
        agents_api,
        evals_api,
        numbers_api,
        calls_api,
        campaigns_api,
        do_not_call_api,
        data_policy_api,
        webhooks_api,
        keys_api,
        tools_api,
        workflows_api,
        sign_in_api,
        mfa_api,
        passkeys_api,
        oidc_api,
        people_api,
        audit_api,
        analytics_api,
        passkey_page,
        recordings_api,
        talk_page,
    ):
        app.include_router(api.router)
    app.include_router(health.router)
    install_dashboard(app)
    app.add_middleware(DeniedWatch)
    install_error_handlers(app)
    install_openapi(app)
    install_edge_guards(app, settings, buckets)

    return app


def create_server_app() -> FastAPI:
    """The app as ``aybiza serve`` runs it, in each worker process: settings from the
    environment, the engines warmed and the start-up heap frozen out of the garbage
    collector's way."""
    return create_app(freeze_heap=True, warm_engines=True)
