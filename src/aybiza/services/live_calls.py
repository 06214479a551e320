"""Calls whose loop runs in this process, by call id, so the API can end them.

With several server processes a call's loop lives in one of them: a hang-up asked of another
process is written to the call row (``hangup_requested_at``) and every process polls for such
requests on its own live calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from sqlalchemy import select

from aybiza.background import BackgroundLoop
from aybiza.pipeline.machine_detection import ANSWERED_BY
from aybiza.pipeline.session import CallSession
from aybiza.store.database import Database
from aybiza.store.models import Call

log = structlog.get_logger(__name__)

API_HANGUP = "api-hangup"


class LiveCalls:
    """The registry of this process's call loops."""

    def __init__(self) -> None:
        self._sessions: dict[str, CallSession] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._poller: BackgroundLoop | None = None
        self._database: Database | None = None

    def add(self, call_id: str, session: CallSession) -> None:
        """Track a call loop until it finishes."""
        self._sessions[call_id] = session
        watcher = asyncio.create_task(self._forget_when_finished(call_id, session))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    def get(self, call_id: str) -> CallSession | None:
        """The running loop of a call, if it runs in this process."""
        return self._sessions.get(call_id)

    def call_ids(self) -> list[str]:
        """The ids of the calls whose loop runs here."""
        return list(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)

    async def hangup(self, call_id: str, reason: str = API_HANGUP) -> bool:
        """End the call if its loop runs here; True when it did."""
        session = self._sessions.get(call_id)
        if session is None:
            return False
        await session.end(reason)
        return True

    def start_polling(self, database: Database, interval_s: float) -> None:
        """Poll the database for hang-ups requested through other processes."""
        if self._poller is None:
            self._database = database
            self._poller = BackgroundLoop("hangups", self._poll_once, interval_s=interval_s)
            self._poller.start()

    async def stop(self) -> None:
        """Stop polling and watching (call loops themselves end with their streams)."""
        if self._poller is not None:
            await self._poller.stop()
            self._poller = None
        tasks = list(self._watchers)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _forget_when_finished(self, call_id: str, session: CallSession) -> None:
        await session.finished.wait()
        if self._sessions.get(call_id) is session:
            del self._sessions[call_id]

    async def _poll_once(self) -> None:
        """Hang up this process's calls whose hang-up another process recorded, and hand
        carriers' answering-machine verdicts that another process took to the waiting loops."""
        if not self._sessions or self._database is None:
            return None
        waiting = [
            call_id
            for call_id, loop in self._sessions.items()
            if loop.screen is not None and loop.screen.awaiting_carrier
        ]
        async with self._database.session() as db:
            rows = await db.execute(
                select(Call.id).where(
                    Call.id.in_(list(self._sessions)),
                    Call.hangup_requested_at.is_not(None),
                )
            )
            requested = list(rows.scalars())
            verdicts: list[tuple[str, str | None, dict[str, Any] | None]] = []
            if waiting:
                found = await db.execute(
                    select(Call.id, Call.answered_by, Call.stats).where(
                        Call.id.in_(waiting), Call.answered_by.is_not(None)
                    )
                )
                verdicts = [(row[0], row[1], row[2]) for row in found.all()]
        for call_id in requested:
            await self.hangup(call_id)
        for call_id, answered_by, stats in verdicts:
            loop = self._sessions.get(call_id)
            if loop is not None:
                hand_verdict(loop, answered_by, stats)
        return None


def hand_verdict(loop: CallSession, answered_by: str | None, stats: dict[str, Any] | None) -> None:
    """Give a screened call loop the carrier's verdict recorded on its call (by the process
    that took the carrier's callback, before or while the loop runs)."""
    if loop.screen is None or not loop.screen.awaiting_carrier or answered_by not in ANSWERED_BY:
        return
    message_end = (stats or {}).get("carrier_message_end")
    loop.screen.carrier_detected(
        answered_by, message_end if message_end in ("beep", "silence", "other") else None
    )
