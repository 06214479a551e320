"""Outbound campaigns: creating one (its number, agent and contacts checked), reading it and its
results, pausing, resuming and canceling it. ``aybiza.services.campaign_dispatcher`` dials.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from aybiza.agents.errors import FieldError
from aybiza.errors import Conflict, Invalid, NotFound
from aybiza.services.call_specs import CallCreate
from aybiza.services.calling_windows import time_zones_for
from aybiza.services.campaign_specs import CampaignCreate
from aybiza.services.do_not_call import blocked_numbers
from aybiza.services.outbound_calls import OutboundCalls
from aybiza.store.campaign_models import Campaign, CampaignContact
from aybiza.store.database import Database
from aybiza.store.models import new_id, utcnow
from aybiza.store.paging import Page, fetch_page
from aybiza.store.queries import is_row_id

# Campaign status -> the actions that may follow it.
_MOVES = {
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "cancel": ({"running", "paused"}, "canceled"),
}
RESULT_COLUMNS = ("position", "number", "status", "outcome", "attempts", "last_call_id")


@dataclass(frozen=True, slots=True)
class CampaignView:
    """A campaign and how its contacts stand (counts by status and by outcome)."""

    campaign: Campaign
    contacts: int
    by_status: dict[str, int]
    by_outcome: dict[str, int]


class CampaignService:
    """Campaigns of tenants, stored in ``database``; ``outbound`` checks number and agent."""

    def __init__(self, database: Database, outbound: OutboundCalls) -> None:
        self._database = database
        self._outbound = outbound

    async def create(self, tenant_id: str, spec: CampaignCreate) -> Campaign:
        """Store the campaign and its contacts (numbers on the do-not-call list are skipped).
        Raises ``Invalid`` naming each bad field."""
        route = CallCreate.model_validate(
            {
                "to": spec.contacts[0].number,
                "from_number_id": spec.from_number_id,
                "from": spec.from_,
                "agent_id": spec.agent_id,
                "agent_version": spec.agent_version,
            }
        )
        number_id = await self._outbound.check_route(tenant_id, route)
        seen: dict[str, int] = {}
        problems: list[FieldError] = []
        for index, contact in enumerate(spec.contacts):
            if contact.number in seen:
                first = seen[contact.number]
                where = f"contacts.{index}.number"
                problems.append(FieldError(where, f"same as contacts.{first}", contact.number))
            seen.setdefault(contact.number, index)
        if problems:
            raise Invalid(problems[:20])
        now = utcnow()
        campaign = Campaign(
            id=new_id(),
            tenant_id=tenant_id,
            name=spec.name,
            status="running",
            phone_number_id=number_id,
            agent_id=spec.agent_id,
            agent_version=spec.agent_version,
            calls_per_minute=spec.pacing.calls_per_minute,
            max_concurrent_calls=spec.pacing.max_concurrent_calls,
            calling_window=spec.calling_window.model_dump(),
            retry=spec.retry.model_dump(),
            next_dial_at=now,
            created_at=now,
            updated_at=now,
        )
        async with self._database.writing() as session:
            blocked = await blocked_numbers(session, tenant_id, list(seen))
            session.add(campaign)
            await session.flush()
            for index, contact in enumerate(spec.contacts):
                skipped = contact.number in blocked
                session.add(
                    CampaignContact(
                        id=new_id(),
                        campaign_id=campaign.id,
                        tenant_id=tenant_id,
                        position=index,
                        number=contact.number,
                        variables=dict(contact.variables),
                        time_zones=[contact.timezone]
                        if contact.timezone
                        else time_zones_for(contact.number),
                        status="skipped" if skipped else "pending",
                        outcome="do-not-call" if skipped else None,
                        attempts=0,
                        due_at=now,
                        updated_at=now,
                    )
                )
        return campaign

    async def page(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[Campaign]:
        """The tenant's campaigns, newest first."""
        async with self._database.session() as session:
            query = select(Campaign).where(Campaign.tenant_id == tenant_id)
            return await fetch_page(
                session,
                query,
                created_at=Campaign.created_at,
                row_id=Campaign.id,
                cursor=cursor,
                limit=limit,
            )

    async def view(self, tenant_id: str, campaign_id: str) -> CampaignView:
        """The campaign with its contacts counted; ``NotFound`` for another tenant's."""
        async with self._database.session() as session:
            campaign = await self._campaign(session, tenant_id, campaign_id)
            rows = await session.execute(
                select(CampaignContact.status, CampaignContact.outcome, func.count())
                .where(CampaignContact.campaign_id == campaign.id)
                .group_by(CampaignContact.status, CampaignContact.outcome)
            )
            by_status: Counter[str] = Counter()
            by_outcome: Counter[str] = Counter()
            for status, outcome, count in rows:
                by_status[str(status)] += int(count)
                if outcome is not None:
                    by_outcome[str(outcome)] += int(count)
        total = sum(by_status.values())
        return CampaignView(campaign, total, dict(by_status), dict(by_outcome))

    async def move(self, tenant_id: str, campaign_id: str, action: str) -> CampaignView:
        """``pause``, ``resume`` or ``cancel`` (contacts not yet finished become ``canceled``;
        calls already ringing finish and are recorded). ``Conflict`` from a status that
        cannot."""
        allowed, target = _MOVES[action]
        async with self._database.writing() as session:
            campaign = await self._campaign(session, tenant_id, campaign_id, lock=True)
            if campaign.status not in allowed:
                raise Conflict(
                    f"a {campaign.status} campaign cannot {action}",
                    field="status",
                    code="campaign_state",
                )
            now = utcnow()
            campaign.status, campaign.updated_at = target, now
            if target == "running":
                campaign.next_dial_at = now
            if target == "canceled":
                await session.execute(
                    update(CampaignContact)
                    .where(
                        CampaignContact.campaign_id == campaign.id,
                        CampaignContact.status == "pending",
                    )
                    .values(status="done", outcome="canceled", updated_at=now)
                )
        return await self.view(tenant_id, campaign_id)

    async def contacts(
        self, tenant_id: str, campaign_id: str, *, after: int, limit: int
    ) -> list[CampaignContact]:
        """Contacts in list order, from position ``after`` on."""
        async with self._database.session() as session:
            campaign = await self._campaign(session, tenant_id, campaign_id)
            rows = await session.execute(
                select(CampaignContact)
                .where(
                    CampaignContact.campaign_id == campaign.id,
                    CampaignContact.position >= after,
                )
                .order_by(CampaignContact.position)
                .limit(limit)
            )
            return list(rows.scalars())

    async def results_csv(self, tenant_id: str, campaign_id: str) -> str:
        """Every contact's result as CSV: the result columns, then its variables."""
        async with self._database.session() as session:
            campaign = await self._campaign(session, tenant_id, campaign_id)
            rows = await session.execute(
                select(CampaignContact)
                .where(CampaignContact.campaign_id == campaign.id)
                .order_by(CampaignContact.position)
            )
            contacts = list(rows.scalars())
        names = sorted({name for contact in contacts for name in contact.variables})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*RESULT_COLUMNS, *names])
        for contact in contacts:
            fixed: list[Any] = [getattr(contact, column) for column in RESULT_COLUMNS]
            variables = [_cell(contact.variables.get(name, "")) for name in names]
            writer.writerow([*("" if v is None else v for v in fixed), *variables])
        return out.getvalue()

    async def _campaign(
        self, session: Any, tenant_id: str, campaign_id: str, *, lock: bool = False
    ) -> Campaign:
        campaign = (
            await session.get(Campaign, campaign_id, with_for_update=lock)
            if is_row_id(campaign_id)
            else None
        )
        if campaign is None or campaign.tenant_id != tenant_id:
            raise NotFound("no campaign with this id", field="id")
        assert isinstance(campaign, Campaign)
        return campaign


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
