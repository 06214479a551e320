"""The caller's keypad: digits become caller input, or answer a tool that is collecting them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


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
    ``timeout_s`` without a key press."""

    def __init__(self, submit: Callable[[str], Awaitable[None]], interdigit_s: float) -> None:
        self._submit = submit
        self._interdigit_s = interdigit_s
        self._digits = ""
        self._timer: asyncio.Task[None] | None = None
        self._collection: _Collection | None = None

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
        try:
            return await done
        finally:
            self._collection = None
            self._cancel_timer()

    def close(self) -> None:
        self._cancel_timer()
        if self._collection is not None and not self._collection.done.done():
            self._collection.done.cancel()

    async def _flush(self) -> None:
        digits, self._digits = self._digits, ""
        if digits:
            await self._submit(f"DTMF {digits}")

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
