"""Twilio's part in a call placed through the fake REST API: the webhooks Twilio would send.

``CallPlayer`` POSTs the call's ``Url`` when the callee "answers" (form fields of PROTOCOLS 1.1
with ``Direction=outbound-api``) and the status callbacks the call asked for (1.3: ``initiated``,
``ringing``, ``answered``, and ``completed`` always), each signed with ``X-Twilio-Signature``
under the account's auth token (1.4). What ``CallStatus`` the ``initiated`` event carries is
not confirmed; the fake sends ``initiated``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from tests.fakes.twilio_resources import API_VERSION, FakeCall, rfc2822
from twilio.request_validator import RequestValidator

# CallStatus sent with each status-callback event (``completed`` sends the call's end status).
EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}


class CallPlayer:
    """Sends a call's webhooks; ``failures`` says why an automatically played call stopped."""

    def __init__(self, accounts: Mapping[str, str], calls: Mapping[str, FakeCall]) -> None:
        self._accounts = accounts
        self._calls = calls
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures: list[str] = []

    async def answer(self, call_sid: str) -> str:
        """The callee picked up: POST the call's ``Url`` and return the TwiML it answered."""
        call = self._calls[call_sid]
        call.status, call.started = "in-progress", datetime.now(UTC)
        if call.url is None:
            call.answered_twiml = call.twiml or ""
            return call.answered_twiml
        async with self._post(call.account_sid, call.url, _call_form(call, "in-progress")) as sent:
            call.answered_twiml = await sent.text()
            if sent.status >= 300:
                raise AssertionError(
                    f"POST {call.url} answered {sent.status}: {call.answered_twiml}"
                )
        return call.answered_twiml

    async def send_status(self, call_sid: str, event: str) -> int | None:
        """POST the status callback for ``event`` if the call asked for it; returns the app's
        HTTP status (None when not sent)."""
        call = self._calls[call_sid]
        if call.status_callback is None:
            return None
        if event != "completed" and event not in call.status_callback_events:
            return None
        form = _call_form(call, EVENT_STATUS.get(event, call.status))
        form |= {
            "CallbackSource": "call-progress-events",
            "Timestamp": rfc2822(),
            "SequenceNumber": str(len(call.callbacks)),
        }
        if event == "completed":
            form["CallDuration"] = str(call.duration)
        async with self._post(call.account_sid, call.status_callback, form) as sent:
            call.callbacks.append((event, sent.status))
            return int(sent.status)

    async def send_amd(self, call_sid: str, answered_by: str, duration_ms: int = 2300) -> int:
        """POST the asynchronous answering-machine detection result (``AnsweredBy``: human,
        machine_start, machine_end_beep, machine_end_silence, machine_end_other, fax or
        unknown) to the call's ``AsyncAmdStatusCallback``; returns the app's HTTP status."""
        call = self._calls[call_sid]
        if call.async_amd_callback is None or call.machine_detection is None:
            raise AssertionError(f"call {call_sid} did not ask for asynchronous AMD")
        form = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "AnsweredBy": answered_by,
            "MachineDetectionDuration": str(duration_ms),
        }
        async with self._post(call.account_sid, call.async_amd_callback, form) as sent:
            call.callbacks.append((f"amd:{answered_by}", sent.status))
            return int(sent.status)

    async def hang_up(self, call_sid: str, status: str = "completed") -> None:
        """The call ends (the callee hung up, or ``busy``/``no-answer``/``failed``)."""
        call = self._calls[call_sid]
        if call.live:
            call.status, call.ended = status, datetime.now(UTC)
            await self.send_status(call_sid, "completed")

    def play(self, call_sid: str) -> None:
        """In the background: initiated, ringing, answer (fetch ``Url``), answered."""
        self._background(self._play(call_sid))

    def ended(self, call_sid: str) -> None:
        """In the background: the ``completed`` callback of a call ended through the API."""
        self._background(self._completed_quietly(call_sid))

    async def aclose(self) -> None:
        """Stop playing and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _play(self, call_sid: str) -> None:
        try:
            await self.send_status(call_sid, "initiated")
            self._calls[call_sid].status = "ringing"
            await self.send_status(call_sid, "ringing")
            await self.answer(call_sid)
            await self.send_status(call_sid, "answered")
        except (AssertionError, aiohttp.ClientError) as exc:
            self.failures.append(f"{call_sid}: {exc}")

    async def _completed_quietly(self, call_sid: str) -> None:
        # The app may be gone already; Twilio would not retry either.
        with contextlib.suppress(aiohttp.ClientError):
            await self.send_status(call_sid, "completed")

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _post(self, account_sid: str, url: str, form: dict[str, str]) -> Any:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        signature = RequestValidator(self._accounts[account_sid]).compute_signature(url, form)
        return self._http.post(url, data=form, headers={"X-Twilio-Signature": signature})


def _call_form(call: FakeCall, status: str) -> dict[str, str]:
    return {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": status,
        "Called": call.to,
        "Caller": call.from_,
        "Direction": "outbound-api",
        "From": call.from_,
        "To": call.to,
    }
