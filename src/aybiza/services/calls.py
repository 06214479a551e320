"""The platform's side of the carrier boundary: admit a carrier's call, open its call loop when
media starts, take its progress, and say what follows its media (``CallIntake``)."""

from __future__ import annotations

import random
from collections.abc import Callable

import structlog

from aybiza.analytics.call_audio import CallAudio
from aybiza.analytics.cost import PriceTable
from aybiza.analytics.events import CallEvents
from aybiza.analytics.recorder import StoreCallRecorder
from aybiza.analytics.recording import Speaker
from aybiza.logging import bind_text_filter
from aybiza.pipeline.session import CallSession
from aybiza.pipeline.transport import MediaConnection
from aybiza.services.admission import admit
from aybiza.services.browser_admission import admit_to_agent
from aybiza.services.call_assembly import CallAssembly
from aybiza.services.call_leases import CallLeases
from aybiza.services.drain import Drain
from aybiza.services.live_calls import LiveCalls, hand_verdict
from aybiza.services.number_config import number_routing
from aybiza.services.outbound_calls import OutboundCalls
from aybiza.services.recordings import Recordings
from aybiza.store.calls import call_by_sid
from aybiza.store.database import Database
from aybiza.store.models import Call, PhoneNumber, utcnow
from aybiza.store.queries import is_row_id
from aybiza.store.writer import StoreWriter
from aybiza.telephony.carrier import (
    SERVER_DRAINING,
    Admission,
    AfterMedia,
    CallProgress,
    IncomingCall,
    MachineAnswer,
    MediaRefused,
    Refused,
)

log = structlog.get_logger(__name__)


class CallService:
    """Admits incoming calls and builds their call loops (``CallIntake`` for every carrier);
    ``live`` tracks the loops running in this process, ``events`` queues the tenants' webhook
    events."""

    def __init__(
        self,
        database: Database,
        writer: StoreWriter,
        assembly: CallAssembly,
        *,
        outbound: OutboundCalls | None = None,
        live: LiveCalls | None = None,
        events: CallEvents | None = None,
        rng: random.Random | None = None,
        operator_tenant: str = "demo",
        leases: CallLeases | None = None,
        drain: Drain | None = None,
        recordings: Recordings | None = None,
    ) -> None:
        self._leases = leases
        self.recordings = recordings
        self._drain = drain
        self._database = database
        self._writer = writer
        self._assembly = assembly
        self.live = live if live is not None else LiveCalls()
        self._events = events if events is not None else CallEvents(PriceTable())
        self._outbound = outbound
        # Weighted A/B routing; tests seed it.
        self._rng = rng if rng is not None else random.Random()
        self._operator_tenant = operator_tenant

    async def admit(self, call: IncomingCall) -> Admission:
        """Record the incoming call (or the answered outbound call ``call.call_id``) and decide
        who answers it: ``Routed`` to an agent version, or ``Refused`` (unknown number, tenant
        at its concurrency limit), still recorded. The number and its agent version are read
        through the configuration cache (from the replica when there is one)."""
        routing = await number_routing(self._database, call.platform_number, self._rng)
        async with self._database.writing() as session:
            draining = self._drain is not None and self._drain.draining and call.call_id is None
            admission = await admit(
                session,
                call,
                routing,
                operator_tenant=self._operator_tenant,
                draining=draining,
            )
            refused_for_tenant = isinstance(admission, Refused) and admission.tenant_id is not None
            if refused_for_tenant:
                await self._events.call_ended(session, admission.call_id)
        if refused_for_tenant:
            self._events.wake()
        return admission

    async def admit_browser(self, call: IncomingCall, tenant_id: str, agent_id: str) -> Admission:
        """Record a browser test call to ``agent_id`` of ``tenant_id`` and route it
        (``Refused`` with no record for another tenant's agent, ``agent-not-found``, or while
        the server drains, ``server-draining``: the page may try again, reaching another)."""
        if self._drain is not None and self._drain.draining:
            return Refused("", None, SERVER_DRAINING)
        async with self._database.writing() as session:
            admission = await admit_to_agent(session, call, tenant_id, agent_id)
            refused = isinstance(admission, Refused) and admission.tenant_id is not None
            if refused:
                await self._events.call_ended(session, admission.call_id)
        if refused:
            self._events.wake()
        return admission

    async def open_session(
        self,
        carrier_call_id: str,
        media_id: str,
        connection: MediaConnection,
        *,
        on_line: Callable[[Speaker, str], None] | None = None,
    ) -> CallSession:
        """Build the call loop of a call whose media just started. A second media connection
        for a call that already has a loop is refused (and noted on the call). ``on_line`` is
        told each transcript line as stored; a call whose agent records calls is recorded."""
        async with self._database.writing() as session:
            call = await call_by_sid(session, carrier_call_id)
            if call is None or call.agent_version_id is None or call.tenant_id is None:
                raise MediaRefused(f"no call {carrier_call_id}", "unknown-call")
            if call.ended_at is not None:
                raise MediaRefused(f"call {carrier_call_id} has already ended", "ended")
            running = self.live.get(call.id)
            if running is not None or call.started_at is not None:
                warning = f"a second media connection ({media_id}) was refused"
                if running is not None:
                    running.warn(warning)
                log.warning("call.duplicate_media", call_id=call.id, media_id=media_id)
                raise MediaRefused(
                    f"call {carrier_call_id} already has a media connection", "duplicate"
                )
            prepared = await self._assembly.prepare(self._database, session, call)
            call.engines = prepared.engines.describe()
            if self._leases is not None:
                self._leases.lease(call)
            # Written with the lease, before any audio: a crash from here on leaves a call that
            # the lease sweep ends (``server-lost``).
            call.status, call.stream_sid, call.started_at = "in-progress", media_id, utcnow()
            await self._events.call_started(session, call.id)
        redactor = prepared.config.redactor()
        # This call's logs (its task and the tasks its loop starts) are redacted like its
        # transcript.
        bind_text_filter(redactor.redact if redactor.enabled else None)
        recorder = StoreCallRecorder(
            self._writer,
            call_id=call.id,
            tenant_id=call.tenant_id,
            call_sid=carrier_call_id,
            events=self._events,
            redactor=redactor,
            on_line=on_line,
        )
        recording = self.recordings is not None and prepared.config.recording.enabled
        audio = CallAudio() if recording else None
        call_loop = await self._assembly.build(prepared, connection, recorder, audio)
        if audio is not None and self.recordings is not None:
            self.recordings.keep_when_finished(call_loop, audio)
        self.live.add(call.id, call_loop)
        # The carrier may have decided before the media connected: the loop acts on it now.
        hand_verdict(call_loop, call.answered_by, call.stats)
        return call_loop

    async def progress(self, update: CallProgress) -> None:
        """A carrier's progress report (handled with the outbound calls it mostly concerns)."""
        if self._outbound is not None:
            await self._outbound.progress(update)

    async def after_media(self, carrier_call_id: str) -> AfterMedia:
        """Transfer if the agent asked to; a call whose media never started goes to the
        number's fallback (and is recorded as ended: no call loop will)."""
        async with self._database.writing() as session:
            call = await call_by_sid(session, carrier_call_id)
            if call is None:
                return AfterMedia()
            number = (
                await session.get(PhoneNumber, call.phone_number_id)
                if call.phone_number_id
                else None
            )
            never_started = call.started_at is None and call.ended_at is None
            if never_started:
                # Otherwise the call would count against the tenant's concurrency limit.
                call.status, call.ended_reason, call.ended_at = (
                    "completed",
                    "stream-failed",
                    utcnow(),
                )
        own = number.e164 if number is not None else None
        if call.transfer_to:
            summary = str((call.stats or {}).get("transfer_summary") or "")
            return AfterMedia(call.id, call.transfer_to, summary, platform_number=own)
        if never_started and number is not None and number.fallback_number:
            return AfterMedia(call.id, fallback=number.fallback_number, platform_number=own)
        return AfterMedia(call.id)

    async def machine_detected(self, verdict: MachineAnswer) -> None:
        """Record who answered; the call loop, if it runs here, acts on it."""
        async with self._database.writing() as session:
            call_id = verdict.call_id
            call = await session.get(Call, call_id) if call_id and is_row_id(call_id) else None
            if call is None or call.call_sid != verdict.carrier_call_id:
                call = await call_by_sid(session, verdict.carrier_call_id)
            if call is None:
                return
            call.answered_by = verdict.answered_by
            # Kept for a call loop that starts after the verdict (media not yet connected).
            call.stats = {**(call.stats or {}), "carrier_message_end": verdict.message_end}
            loop = self.live.get(call.id)
        log.info("call.machine_detection", call_sid=call.call_sid, answered_by=verdict.detail)
        if loop is not None and loop.screen is not None and loop.screen.awaiting_carrier:
            loop.screen.carrier_detected(verdict.answered_by, verdict.message_end)

    async def transfer_summary(self, call_id: str) -> str:
        async with self._database.session() as session:
            call = await session.get(Call, call_id)
        return str((call.stats or {}).get("transfer_summary") or "") if call else ""
