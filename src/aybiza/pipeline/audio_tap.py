"""A call's audio as the caller heard it, for a recording: the carrier-neutral tap.

``AudioTap`` is told every inbound caller frame, every piece of agent audio sent to the carrier
and every ``clear`` (barge-in); ``TappedConnection`` wraps the carrier's ``MediaConnection`` so
the outbound side reaches the tap whichever carrier the call came through."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from aybiza.pipeline.transport import MediaConnection


class AudioTap(Protocol):
    """Receives a call's audio as it flows (μ-law 8 kHz)."""

    def caller(self, frame: bytes) -> None:
        """One inbound 20 ms frame of the caller."""

    def agent(self, mulaw: bytes) -> None:
        """Agent audio queued at the carrier, to be played after what was queued before."""

    def cleared(self) -> None:
        """The carrier dropped every queued agent sound not yet played (barge-in)."""


class TappedConnection:
    """A ``MediaConnection`` that tells ``tap`` what it sends, then sends it."""

    def __init__(self, inner: MediaConnection, tap: AudioTap) -> None:
        self._inner = inner
        self._tap = tap

    async def send_media(self, mulaw: bytes) -> None:
        self._tap.agent(mulaw)
        await self._inner.send_media(mulaw)

    async def send_mark(self, name: str) -> None:
        await self._inner.send_mark(name)

    async def send_clear(self) -> Mapping[str, int] | None:
        self._tap.cleared()
        return await self._inner.send_clear()

    async def send_digits(self, digits: str) -> bool:
        return await self._inner.send_digits(digits)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._inner.close(code, reason)
