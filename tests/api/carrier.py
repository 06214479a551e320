"""The fake Twilio REST API beside a test server: it runs on its own thread and event loop, so
the synchronous API tests and the server's own loop both reach it."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from tests.fakes.twilio_rest import FakeTwilio

from aybiza.simulator.webhook import sign

if TYPE_CHECKING:
    from tests.api.conftest import ApiServer

T = TypeVar("T")
PLATFORM_SID, PLATFORM_TOKEN = "AC" + "1" * 32, "platform-auth-token"
CUSTOMER_SID, CUSTOMER_TOKEN = "AC" + "2" * 32, "customer-auth-token"


class BackgroundLoop:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="fake")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """``run`` for async tests."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextmanager
def running_fake_twilio() -> Iterator[tuple[FakeTwilio, BackgroundLoop]]:
    """The fake with the platform's and a customer's account, on a background loop."""
    background = BackgroundLoop()
    fake = FakeTwilio({PLATFORM_SID: PLATFORM_TOKEN, CUSTOMER_SID: CUSTOMER_TOKEN})
    background.run(fake.start())
    try:
        yield fake, background
    finally:
        background.run(fake.stop())
        background.close()


@dataclass
class Carrier:
    """A test server configured for Twilio, and the fake Twilio it uses."""

    api: ApiServer
    fake: FakeTwilio
    background: BackgroundLoop

    def run_fake(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run one of the fake's coroutines (``answer``, ``send_status``, ``hang_up``)."""
        return self.background.run(coro, timeout)

    def signed_post(
        self, path: str, form: dict[str, str], token: str, query: str = ""
    ) -> httpx.Response:
        """POST a Twilio webhook to the server, signed with ``token`` as Twilio would."""
        url = f"{self.api.base_url}{path}{'?' + query if query else ''}"
        headers = {"X-Twilio-Signature": sign(token, url, form)}
        return self.api.twilio.post(url, data=form, headers=headers)


def incoming_form(to: str, account_sid: str, from_: str = "+15558675310") -> dict[str, str]:
    """An incoming call's webhook fields."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": "CA" + secrets.token_hex(16),
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": from_,
        "To": to,
    }
