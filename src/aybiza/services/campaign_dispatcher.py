"""Dials campaigns durably: pacing, concurrency, calling windows, retries, at most one call per
attempt.

Everything the dispatcher knows is in the database, so any process can pick a campaign up
where another left it. Each tick, per campaign:

1. take the campaign's lease (one process at a time works on it; released at the end);
2. follow its open attempts: an ended call gives the attempt its outcome and the contact its
   next step (another attempt after the backoff, or done); an attempt claimed by a process
   that stopped before its call was recorded is placed now, under the id it claimed;
3. while the campaign runs, has room under ``max_concurrent_calls`` and its pace allows,
   claim the next due contact whose calling window is open: the attempt row (unique per
   contact and attempt number, holding the call id) is committed first, then the call is
   placed through ``OutboundCalls`` with that id. A restart between the two finds the claim
   and the call (or its absence) by that id, so no attempt is dialled twice;
4. finish the campaign when no contact is left to call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.automation.workflows.executor import process_owner
from aybiza.background import BackgroundLoop
from aybiza.errors import Conflict, Invalid, ServiceError, Unavailable
from aybiza.services.admission import PENDING_SID_PREFIX
from aybiza.services.call_specs import CallCreate
from aybiza.services.calling_windows import CallingWindow
from aybiza.services.campaign_outcomes import call_outcome, next_step
from aybiza.services.campaign_specs import RetryPolicy
from aybiza.services.do_not_call import blocked_numbers
from aybiza.services.outbound_calls import OutboundCalls
from aybiza.store.campaign_models import Campaign, CampaignAttempt, CampaignContact
from aybiza.store.database import Database
from aybiza.store.models import Call, PhoneNumber, new_id, utcnow

log = structlog.get_logger(__name__)
OPEN = ("claimed", "dialling")
# A call whose carrier never took it (still without a carrier call id) after this long failed.
STALE_PLACEMENT = timedelta(minutes=10)
# The tenant was at its concurrency limit: look again this much later.
FULL_RETRY = timedelta(seconds=5)
# Contacts looked at per tick whose window is closed (each moved to its next opening).
_WINDOW_LOOKS = 200


@dataclass(frozen=True, slots=True)
class Claim:
    """An attempt committed before its call is placed."""

    attempt_id: str
    call_id: str
    contact_number: str
    variables: dict[str, str]


class CampaignDispatcher:
    """Advances every running campaign in ``database``; safe to run in many processes."""

    def __init__(
        self,
        database: Database,
        outbound: OutboundCalls,
        *,
        poll_s: float = 1.0,
        lease_s: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
    ) -> None:
        self._database = database
        self._outbound = outbound
        self._clock = clock
        self._lease = timedelta(seconds=lease_s)
        self._burst = timedelta(seconds=poll_s)
        self.owner = owner or process_owner()
        self.loop = BackgroundLoop("campaign-dispatcher", self._step, interval_s=poll_s)

    def start(self) -> None:
        """Begin dialling in the background."""
        self.loop.start()

    async def stop(self) -> None:
        """Stop; open attempts are followed by whichever dispatcher runs next."""
        await self.loop.stop()

    def wake(self) -> None:
        """Something changed (a call ended, a campaign was created): tick now."""
        self.loop.wake()

    async def call_ended(self, session: AsyncSession, call_id: str) -> None:
        """A call ended (in the transaction that ends it): when a campaign placed it, tick
        soon so its contact's next step is taken."""
        found = await session.execute(
            select(CampaignAttempt.id).where(CampaignAttempt.call_id == call_id).limit(1)
        )
        if found.first() is not None:
            self.loop.wake()

    async def tick(self, now: datetime | None = None) -> int:
        """One pass over the active campaigns; returns how many calls were placed."""
        now = now or self._clock()
        async with self._database.session() as session:
            # Paused campaigns matter only while calls they placed are still open.
            still_open = (
                select(CampaignAttempt.id)
                .where(
                    CampaignAttempt.campaign_id == Campaign.id,
                    CampaignAttempt.status.in_(OPEN),
                )
                .exists()
            )
            rows = await session.execute(
                select(Campaign.id)
                .where(
                    Campaign.finished_at.is_(None),
                    Campaign.status.in_(("running", "canceled")) | still_open,
                )
                .order_by(Campaign.id)
            )
            campaign_ids = [str(row) for row in rows.scalars()]
        placed = 0
        for campaign_id in campaign_ids:
            if not await self._take(campaign_id, now):
                continue
            try:
                placed += await self._advance(campaign_id, now)
            finally:
                await self._release(campaign_id)
        return placed

    async def _step(self) -> float | None:
        await self.tick()
        return None

    async def _advance(self, campaign_id: str, now: datetime) -> int:
        await self.follow(campaign_id, now)
        placed = 0
        while True:
            claim = await self.claim_next(campaign_id, now)
            if claim is None:
                break
            placed += await self._dial(campaign_id, claim, now)
        await self._finish_if_done(campaign_id, now)
        return placed

    async def follow(self, campaign_id: str, now: datetime) -> None:
        """Record the outcomes of ended calls; place calls claimed but never recorded."""
        async with self._database.session() as session:
            rows = await session.execute(
                select(CampaignAttempt).where(
                    CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.status.in_(OPEN)
                )
            )
            attempts = list(rows.scalars())
        for attempt in attempts:
            async with self._database.writing() as session:
                call = await session.get(Call, attempt.call_id)
                row = await session.get(CampaignAttempt, attempt.id)
                if row is None or row.status not in OPEN:
                    continue
                if call is None:
                    # Claimed but never recorded: the process stopped before placing it.
                    redo = row.status == "claimed"
                    if not redo:
                        await self._ended(session, row, "failed", "the call record is gone", now)
                elif call.ended_at is not None:
                    await self._ended(session, row, call_outcome(call), None, now)
                    redo = False
                else:
                    row.status, redo = "dialling", False
                    if call.call_sid.startswith(PENDING_SID_PREFIX) and (
                        now - call.created_at > STALE_PLACEMENT
                    ):
                        await self._ended(session, row, "failed", "never placed", now)
            if redo:
                contact = await self._contact(attempt.contact_id)
                claim = Claim(attempt.id, attempt.call_id, contact.number, contact.variables)
                await self._dial(campaign_id, claim, now)

    async def claim_next(self, campaign_id: str, now: datetime) -> Claim | None:
        """Commit the next attempt the campaign may make now (None: none may)."""
        async with self._database.writing() as session:
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None or campaign.status != "running" or campaign.next_dial_at > now:
                return None
            live = await _count_open(session, campaign_id)
            if live >= campaign.max_concurrent_calls:
                return None
            contact = await self._due_contact(session, campaign, now)
            if contact is None:
                return None
            contact.attempts += 1
            contact.status, contact.updated_at = "dialling", now
            attempt = CampaignAttempt(
                id=new_id(),
                campaign_id=campaign_id,
                contact_id=contact.id,
                tenant_id=campaign.tenant_id,
                attempt=contact.attempts,
                call_id=new_id(),
                status="claimed",
                claimed_at=now,
            )
            session.add(attempt)
            contact.last_call_id = attempt.call_id
            gap = timedelta(seconds=60.0 / campaign.calls_per_minute)
            # A pass places what the pace allowed since the last one (up to one poll's worth).
            campaign.next_dial_at = max(campaign.next_dial_at, now - self._burst) + gap
            campaign.updated_at = now
            return Claim(attempt.id, attempt.call_id, contact.number, dict(contact.variables))

    async def _due_contact(
        self, session: AsyncSession, campaign: Campaign, now: datetime
    ) -> CampaignContact | None:
        """The first due contact that may be rung now; contacts outside their window wait
        for its opening, those on the do-not-call list are skipped."""
        window = CallingWindow.from_json(campaign.calling_window)
        for _ in range(_WINDOW_LOOKS):
            rows = await session.execute(
                select(CampaignContact)
                .where(
                    CampaignContact.campaign_id == campaign.id,
                    CampaignContact.status == "pending",
                    CampaignContact.due_at <= now,
                )
                .order_by(CampaignContact.due_at, CampaignContact.position)
                .limit(1)
            )
            contact = rows.scalars().first()
            if contact is None:
                return None
            if await blocked_numbers(session, campaign.tenant_id, [contact.number]):
                contact.status, contact.outcome, contact.updated_at = "skipped", "do-not-call", now
                continue
            opening = window.next_opening(now, contact.time_zones)
            if opening == now:
                return contact
            if opening is None:
                contact.status, contact.outcome = "skipped", "outside-window"
            else:
                contact.due_at = opening
            contact.updated_at = now
        return None

    async def _dial(self, campaign_id: str, claim: Claim, now: datetime) -> int:
        """Place the claimed attempt's call; 1 when placed."""
        async with self._database.session() as session:
            campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None, "campaigns are never deleted"
            number = await session.get(PhoneNumber, campaign.phone_number_id)
        spec = CallCreate.model_validate(
            {
                "to": claim.contact_number,
                "from": number.e164 if number is not None else None,
                "agent_id": campaign.agent_id,
                "agent_version": campaign.agent_version,
            }
        )
        try:
            await self._outbound.place(
                campaign.tenant_id,
                spec,
                call_id=claim.call_id,
                custom_parameters=claim.variables,
            )
        except (Conflict, Unavailable):
            # Nothing was dialled (the tenant is full, the server drains): give the claim back.
            await self._unclaim(claim, now + FULL_RETRY)
            return 0
        except (Invalid, ServiceError) as exc:
            async with self._database.writing() as session:
                row = await session.get(CampaignAttempt, claim.attempt_id)
                if row is not None and row.status in OPEN:
                    await self._ended(session, row, "failed", exc.message, now)
            log.info("campaign.call_failed", campaign=campaign_id, error=exc.message)
            return 0
        async with self._database.writing() as session:
            row = await session.get(CampaignAttempt, claim.attempt_id)
            if row is not None and row.status == "claimed":
                row.status = "dialling"
        return 1

    async def _unclaim(self, claim: Claim, due_at: datetime) -> None:
        async with self._database.writing() as session:
            row = await session.get(CampaignAttempt, claim.attempt_id)
            if row is None:
                return
            contact = await session.get(CampaignContact, row.contact_id)
            await session.delete(row)
            if contact is not None:
                contact.attempts -= 1
                contact.status, contact.due_at = "pending", due_at

    async def _ended(
        self,
        session: AsyncSession,
        attempt: CampaignAttempt,
        outcome: str,
        error: str | None,
        now: datetime,
    ) -> None:
        """Close the attempt with ``outcome`` and give the contact its next step."""
        attempt.status, attempt.outcome, attempt.ended_at = "ended", outcome, now
        attempt.error = error[:500] if error else None
        contact = await session.get(CampaignContact, attempt.contact_id)
        campaign = await session.get(Campaign, attempt.campaign_id)
        if contact is None or campaign is None:
            return
        contact.outcome, contact.updated_at = outcome, now
        retry = RetryPolicy.model_validate(campaign.retry)
        step = next_step(outcome, attempt.attempt, retry, now)
        if step.retry_at is not None and campaign.status in ("running", "paused"):
            contact.status, contact.due_at = "pending", step.retry_at
        else:
            contact.status = "done"

    async def _finish_if_done(self, campaign_id: str, now: datetime) -> None:
        async with self._database.writing() as session:
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None or campaign.status not in ("running", "canceled"):
                return
            if await _count_open(session, campaign_id):
                return
            pending = await session.execute(
                select(CampaignContact.id)
                .where(
                    CampaignContact.campaign_id == campaign_id,
                    CampaignContact.status.in_(("pending", "dialling")),
                )
                .limit(1)
            )
            if pending.first() is not None and campaign.status == "running":
                return
            if campaign.status == "running":
                campaign.status = "completed"
            campaign.finished_at = campaign.updated_at = now
            log.info("campaign.finished", campaign=campaign_id, status=campaign.status)

    async def _contact(self, contact_id: str) -> CampaignContact:
        async with self._database.session() as session:
            contact = await session.get(CampaignContact, contact_id)
        assert contact is not None, "attempts belong to contacts"
        return contact

    async def _take(self, campaign_id: str, now: datetime) -> bool:
        """Lease the campaign to this process unless a live one holds it."""
        async with self._database.writing() as session:
            result = await session.execute(
                update(Campaign)
                .where(
                    Campaign.id == campaign_id,
                    Campaign.finished_at.is_(None),
                    (Campaign.lease_until.is_(None))
                    | (Campaign.lease_until < now)
                    | (Campaign.lease_owner == self.owner),
                )
                .values(lease_owner=self.owner, lease_until=now + self._lease)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _release(self, campaign_id: str) -> None:
        async with self._database.writing() as session:
            await session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )


async def _count_open(session: AsyncSession, campaign_id: str) -> int:
    rows = await session.execute(
        select(CampaignAttempt.id).where(
            CampaignAttempt.campaign_id == campaign_id, CampaignAttempt.status.in_(OPEN)
        )
    )
    return len(rows.all())
