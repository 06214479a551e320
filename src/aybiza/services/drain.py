"""Graceful drain: on ``SIGTERM`` a server stops taking calls and lets its live calls finish.

From the first moment of the drain ``/readyz`` answers 503 (a load balancer stops sending new
work), new incoming calls are sent to their number's fallback or answered 503 so the carrier
retries them elsewhere, and ``POST /v1/calls`` is refused. Live calls go on for up to
``AYBIZA_DRAIN_S`` (default 300 s); those still running then are ended with
``ended_reason: "server-shutdown"``, their records written, and only then does the server stop.
A second ``SIGTERM`` during the drain stops at once (the calls still end as ``server-shutdown``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog

from aybiza.services.live_calls import LiveCalls
from aybiza.store.writer import StoreWriter
from aybiza.telephony.carrier import NotTakingCalls
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

SERVER_SHUTDOWN = "server-shutdown"
SignalHandler = Callable[[int, FrameType | None], Any] | int | None


class Drain:
    """The drain of one server process."""

    def __init__(self, live: LiveCalls, writer: StoreWriter, *, drain_s: float) -> None:
        self._live = live
        self._writer = writer
        self._drain_s = drain_s
        self.started_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._previous: SignalHandler = None
        self._hurry = asyncio.Event()

    @property
    def draining(self) -> bool:
        return self.started_at is not None

    def check(self) -> None:
        """Raise ``NotTakingCalls`` when no new call may start here."""
        if self.draining:
            raise NotTakingCalls("this server is shutting down; try another")

    def install(self) -> None:
        """Take ``SIGTERM`` over from the server (uvicorn), keeping its handler to call once the
        calls are done. Only the main thread can (tests that run the app elsewhere drain by
        calling ``run``)."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def uninstall(self) -> None:
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self._task is not None:
            self._hurry.set()  # a second SIGTERM: stop now
            return
        loop = asyncio.get_running_loop()
        loop.call_soon_threadsafe(self._begin, signum, frame)

    def _begin(self, signum: int, frame: FrameType | None) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain_then_exit(signum, frame), name="drain")

    async def _drain_then_exit(self, signum: int, frame: FrameType | None) -> None:
        await self.run()
        previous = self._previous
        if callable(previous):
            previous(signum, frame)

    async def run(self) -> None:
        """Drain: wait for live calls to end (up to ``drain_s``), end the rest, write it all."""
        self.started_at = time.monotonic()
        log.warning("server.draining", live_calls=len(self._live), drain_s=self._drain_s)
        deadline = self.started_at + self._drain_s
        while len(self._live) and time.monotonic() < deadline and not self._hurry.is_set():
            with contextlib.suppress(TimeoutError):
                await within(self._hurry.wait(), min(0.2, deadline - time.monotonic()))
        left = self._live.call_ids()
        for call_id in left:
            await self._live.hangup(call_id, SERVER_SHUTDOWN)
        await self._writer.flush()
        log.warning("server.drained", ended_by_shutdown=len(left))
