"""Calls written straight into the store for the page tests (as the call loop writes them)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from tests.api.conftest import ApiServer

from aybiza.store.models import Call, TranscriptLine, Turn, utcnow

TIMINGS = {
    "stt_final": 120.0,
    "llm_request": 121.0,
    "llm_first_token": 380.0,
    "first_sentence": 450.0,
    "tts_request": 452.0,
    "tts_first_audio": 610.0,
    "first_audio_sent": 612.0,
    "platform_added": 5.0,
}


def add_call(
    server: ApiServer, tenant_id: str, *, live: bool, said: str = "I need a plumber"
) -> str:
    """A call with one turn and two transcript lines; ``live``: still in progress."""
    now = utcnow()

    async def insert() -> str:
        async with server.app.state.database.writing() as session:
            call = Call(
                tenant_id=tenant_id,
                call_sid="CA" + secrets.token_hex(16),
                from_number="+15550100111",
                to_number="+15550100222",
                status="in-progress" if live else "completed",
                ended_reason=None if live else "caller-hangup",
                engines={"stt": "deepgram", "tts": "deepgram", "llm": "bedrock"},
                created_at=now - timedelta(seconds=40),
                started_at=now - timedelta(seconds=40),
                ended_at=None if live else now,
            )
            session.add(call)
            await session.flush()
            session.add(
                Turn(
                    tenant_id=tenant_id,
                    call_id=call.id,
                    index=1,
                    user_text=said,
                    agent_text="Sure, when suits you?",
                    heard_text="Sure, when suits you?",
                    timings_ms=TIMINGS,
                    usage={"input_tokens": 900, "output_tokens": 40},
                )
            )
            for seq, (speaker, text) in enumerate(
                (("caller", said), ("agent", "Sure, when suits you?")), start=1
            ):
                session.add(
                    TranscriptLine(
                        tenant_id=tenant_id, call_id=call.id, seq=seq, speaker=speaker, text=text
                    )
                )
            return call.id

    return server.run(insert())
