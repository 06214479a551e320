"""Webhook deliveries go through the one outbound sender: signed, with the delivery's id as the
idempotency key, and a target the guard refuses at send time is a recorded failure (item 1 of
the hardening issue) with nothing sent. Receivers are on loopback; sockets reach nothing else."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from tests.automation.helpers import make_tenant
from tests.automation.receiver import Receiver
from tests.fakes.loopback import StubResolver, loopback_sender

from aybiza.outbound.guard import Guard
from aybiza.outbound.sender import Sender
from aybiza.security.secretbox import HmacSecretBox
from aybiza.services.webhook_dispatch import WebhookDispatcher
from aybiza.services.webhooks import WebhookCreate, WebhookService
from aybiza.store.database import Database
from aybiza.store.models import WebhookDelivery, utcnow
from aybiza.store.webhooks import claim, enqueue_event, next_due_at

NAME = "hooks.example.test"
LEASE = timedelta(seconds=30)


async def _queue_event(
    database: Database, box: HmacSecretBox, receiver: Receiver, url: str, guard: Guard
) -> str:
    """An endpoint (configured as a tenant would, checked without DNS) and one queued
    call.ended for it."""
    tenant = await make_tenant(database)
    spec = WebhookCreate(url=url, events=["call.ended"])
    made = await WebhookService(database, box, guard).create(tenant, spec)
    receiver.secret = made.secret
    async with database.writing() as session:
        await enqueue_event(session, tenant, "call.ended", {"call_sid": "CA" + "1" * 32})
    return made.endpoint.id


async def _delivery(database: Database, endpoint_id: str) -> WebhookDelivery:
    async with database.session() as session:
        rows = await session.execute(
            select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        )
        [delivery] = rows.scalars().all()
        return delivery


def _dispatcher(database: Database, box: HmacSecretBox, sender: Sender) -> WebhookDispatcher:
    return WebhookDispatcher(database, box, sender, max_attempts=4, backoff_s=0.01, poll_s=60.0)


async def test_item1_a_delivery_to_a_refused_target_fails_at_once_and_records_why(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    # At send time the name resolves to loopback, which this operator does not allow.
    sender, network = loopback_sender(allow=(), resolver=StubResolver({NAME: [["127.0.0.1"]]}))
    url = f"http://{NAME}:{receiver.port}/hook"
    endpoint_id = await _queue_event(database, box, receiver, url, sender.guard)
    dispatcher = _dispatcher(database, box, sender)
    try:
        attempted = await dispatcher.run_once()
        again = await dispatcher.run_once()
    finally:
        await sender.aclose()
    delivery = await _delivery(database, endpoint_id)
    assert (attempted, again) == (1, 0)
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_status_code is None and delivery.last_error is not None
    assert "127.0.0.1 is a loopback address" in delivery.last_error
    assert "AYBIZA_OUTBOUND_ALLOW_CIDRS" in delivery.last_error
    assert receiver.seen == [] and network.connected == []


async def test_a_delivery_is_sent_signed_with_its_id_as_the_idempotency_key(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    sender, _ = loopback_sender(resolver=StubResolver({NAME: [["127.0.0.1"]]}))
    url = f"http://{NAME}:{receiver.port}/hook"
    endpoint_id = await _queue_event(database, box, receiver, url, sender.guard)
    try:
        assert await _dispatcher(database, box, sender).run_once() == 1
    finally:
        await sender.aclose()
    delivery = await _delivery(database, endpoint_id)
    assert delivery.status == "delivered" and delivery.last_status_code == 200
    [seen] = receiver.seen
    assert seen.signed is True
    assert seen.key == delivery.id and seen.headers["aybiza-delivery"] == delivery.id
    assert seen.json["type"] == "call.ended"


async def test_the_dispatcher_s_background_loop_delivers_when_woken(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    sender, _ = loopback_sender()
    # A minute between polls: only wake() can bring the delivery out in time.
    dispatcher = _dispatcher(database, box, sender)
    dispatcher.start()
    try:
        await asyncio.sleep(0.05)  # the first poll found nothing and is now waiting
        url = receiver.url("/hook")
        endpoint_id = await _queue_event(database, box, receiver, url, sender.guard)
        dispatcher.wake()
        for _ in range(400):
            if (await _delivery(database, endpoint_id)).status != "pending":
                break
            await asyncio.sleep(0.025)
    finally:
        await dispatcher.stop()
        await sender.aclose()
    assert (await _delivery(database, endpoint_id)).status == "delivered"
    assert len(receiver.seen) == 1


async def test_a_delivery_another_dispatcher_holds_is_next_due_when_its_lease_ends(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    """While another dispatcher holds a due delivery (its attempt in flight, or its process
    gone), this one neither takes it nor counts it due now: it would poll without a pause."""
    sender, _ = loopback_sender(resolver=StubResolver({NAME: [["127.0.0.1"]]}))
    url = f"http://{NAME}:{receiver.port}/hook"
    endpoint_id = await _queue_event(database, box, receiver, url, sender.guard)
    now = utcnow()
    async with database.writing() as session:
        assert await claim(session, (await _delivery(database, endpoint_id)).id, now, LEASE)
    dispatcher = _dispatcher(database, box, sender)
    try:
        assert await dispatcher.run_once() == 0
    finally:
        await sender.aclose()
    async with database.session() as session:
        due_at = await next_due_at(session)
    assert due_at is not None
    assert abs((due_at - (now + LEASE)).total_seconds()) < 0.01
    assert receiver.seen == []
