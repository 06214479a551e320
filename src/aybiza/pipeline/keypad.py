"""The caller's keypad: digits become caller input, or answer a tool that is collecting them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aybiza.analytics.recording import CallStats
from aybiza.audio.codec import SILENCE_BYTE
from aybiza.pipeline.plan import CallPlan

MASK = "*"


@dataclass(slots=True)
class _Collection:
    max_digits: int
    terminator: str
    timeout_s: float
    done: asyncio.Future[str]
    digits: list[str] = field(default_factory=list)


class Keypad:
    """Digits are gathered until '#' or ``interdigit_s`` without a new one, then handed to
    ``submit`` (the conversation gets them as ``DTMF 123``). While a tool collects digits
    (``collect``), they go to the tool instead, until its terminator, its maximum count or
    ``timeout_s`` without a key press. ``masked`` (a tenant in PCI mode): only a ``*`` per
    key leaves the keypad, to the conversation and to tools alike, so a card number keyed in
    never reaches the model, a record or a log; while a tool collects digits then, recording
    is paused: the span goes into ``stats.recording_paused_s`` (seconds since the keypad, that
    is the call's loop, was made)."""

    def __init__(
        self,
        submit: Callable[[str], Awaitable[None]],
        interdigit_s: float,
        *,
        masked: bool = False,
        stats: CallStats | None = None,
    ) -> None:
        self._submit = submit
        self._interdigit_s = interdigit_s
        self._masked = masked
        self._stats = stats
        self._made_at = time.monotonic()
        self._digits = ""
        self._timer: asyncio.Task[None] | None = None
        self._collection: _Collection | None = None

    @classmethod
    def for_plan(
        cls, plan: CallPlan, submit: Callable[[str], Awaitable[None]], stats: CallStats
    ) -> Keypad:
        """The keypad of a call with ``plan``, noting paused recording in ``stats``."""
        return cls(
            submit, plan.dtmf_interdigit_ms / 1000, masked=plan.mask_keyed_digits, stats=stats
        )

    @property
    def collecting(self) -> bool:
        return self._collection is not None

    async def press(self, digit: str) -> None:
        collection = self._collection
        if collection is not None:
            self._restart_timer(self._finish_collection, collection.timeout_s)
            if digit == collection.terminator:
                self._finish_collection_now()
                return
            collection.digits.append(digit)
            if len(collection.digits) >= collection.max_digits:
                self._finish_collection_now()
            return
        if digit == "#":
            self._cancel_timer()
            await self._flush()
            return
        self._digits += digit
        self._restart_timer(self._flush, self._interdigit_s)

    async def collect(self, *, max_digits: int, terminator: str, timeout_s: float) -> str:
        """Wait for the caller to key in digits; returns them without the terminator."""
        if self._collection is not None:
            raise RuntimeError("digits are already being collected")
        self._cancel_timer()
        self._digits = ""
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._collection = _Collection(max(1, max_digits), terminator, timeout_s, done)
        self._restart_timer(self._finish_collection, timeout_s)
        paused_at = self._since_made()
        try:
            return self._shown(await done)
        finally:
            self._collection = None
            self._cancel_timer()
            if self._masked and self._stats is not None:
                self._stats.recording_paused_s.append([paused_at, self._since_made()])

    def recorded(self, frame: bytes) -> bytes:
        """What the call's recording keeps of a caller frame: silence while a PCI collection
        runs (the keys' tones are the card number), else the frame."""
        if self._masked and self._collection is not None:
            return bytes([SILENCE_BYTE]) * len(frame)
        return frame

    def close(self) -> None:
        self._cancel_timer()
        if self._collection is not None and not self._collection.done.done():
            self._collection.done.cancel()

    async def _flush(self) -> None:
        digits, self._digits = self._digits, ""
        if digits:
            await self._submit(f"DTMF {self._shown(digits)}")

    def _since_made(self) -> float:
        return round(time.monotonic() - self._made_at, 3)

    def _shown(self, digits: str) -> str:
        return MASK * len(digits) if self._masked else digits

    async def _finish_collection(self) -> None:
        self._finish_collection_now()

    def _finish_collection_now(self) -> None:
        collection = self._collection
        if collection is not None and not collection.done.done():
            collection.done.set_result("".join(collection.digits))

    def _restart_timer(self, action: Callable[[], Awaitable[None]], delay_s: float) -> None:
        self._cancel_timer()

        async def later() -> None:
            await asyncio.sleep(delay_s)
            await action()

        self._timer = asyncio.create_task(later())

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
