"""A real call loop recording through ``StoreCallRecorder`` into SQLite with an agent that redacts
cards, emails and PINs: the model hears the caller's words, the stored transcript, turns and the
queued ``transcript.final`` webhook bodies keep none of them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.pipeline.loop_kit import LoopCall, ScriptedLlm, plan, say

from aybiza.analytics.cost import PriceTable
from aybiza.analytics.events import CallEvents
from aybiza.analytics.recorder import StoreCallRecorder
from aybiza.security.pii import Redactor
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Call, Tenant, TranscriptLine, Turn, WebhookDelivery, WebhookEndpoint
from aybiza.store.writer import StoreWriter

CARD = "4111 1111 1111 1111"
EMAIL_SAID = "john dot smith at example dot com"
SAID = f"My card is {CARD} and my email is {EMAIL_SAID}."


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}")
    await upgrade_to_head(database)
    try:
        yield database
    finally:
        await database.dispose()


async def _call_with_a_subscriber(database: Database) -> tuple[str, str]:
    async with database.writing() as session:
        tenant = Tenant(name="redacting")
        session.add(tenant)
        await session.flush()
        call = Call(tenant_id=tenant.id, call_sid="CA" + "7" * 32, status="in-progress")
        session.add(call)
        session.add(
            WebhookEndpoint(
                tenant_id=tenant.id,
                url="http://127.0.0.1:9/hook",
                events=["transcript.final"],
                secret_sealed="sealed",
            )
        )
        await session.flush()
        return tenant.id, call.id


async def test_the_model_hears_the_caller_and_nothing_stored_or_queued_keeps_the_values(
    database: Database,
) -> None:
    tenant_id, call_id = await _call_with_a_subscriber(database)
    writer = StoreWriter(database)
    writer.start()
    recorder = StoreCallRecorder(
        writer,
        call_id=call_id,
        tenant_id=tenant_id,
        call_sid="CA" + "7" * 32,
        events=CallEvents(PriceTable()),
        redactor=Redactor(["credit_card", "email", "pin"]),
    )
    llm = ScriptedLlm(
        [say(f"Thanks, I have {EMAIL_SAID}. What is your PIN?"), say("Thank you, that is all.")]
    )
    call = LoopCall(plan(greeting="Hello, how can I pay you back?"), llm, recorder=recorder)
    await call.start()
    await call.play_all()
    await call.caller_says(SAID)
    await call.play_all()
    # Four digits are only a PIN because of the question the agent just asked.
    await call.caller_says("one two three four")
    await call.play_all()
    await call.end()
    await writer.flush()
    await writer.stop()

    # The model got what the caller said, to serve them.
    assert SAID in [m.text for m in llm.requests[0].messages]
    async with database.session() as session:
        lines = (
            await session.scalars(
                select(TranscriptLine.text)
                .where(TranscriptLine.call_id == call_id)
                .order_by(TranscriptLine.seq)
            )
        ).all()
        turns = (await session.execute(select(Turn).where(Turn.call_id == call_id))).scalars()
        turn_texts = [(t.user_text, t.agent_text, t.heard_text) for t in turns]
        bodies = (await session.scalars(select(WebhookDelivery.body))).all()
    assert lines == [
        "Hello, how can I pay you back?",
        "My card is [CREDIT_CARD] and my email is [EMAIL].",
        "Thanks, I have [EMAIL]. What is your PIN?",
        "[PIN]",
        "Thank you, that is all.",
    ]
    assert turn_texts[0] == (
        "My card is [CREDIT_CARD] and my email is [EMAIL].",
        "Thanks, I have [EMAIL]. What is your PIN?",
        "Thanks, I have [EMAIL]. What is your PIN?",
    )
    assert turn_texts[1][0] == "[PIN]"
    sent = [json.loads(body)["data"]["text"] for body in bodies]
    assert sent == lines
    stored = json.dumps([lines, turn_texts, bodies])
    for value in (CARD, "4111", "john", "smith", "one two three four"):
        assert value not in stored
