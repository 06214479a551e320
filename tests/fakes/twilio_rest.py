"""A faithful fake of Twilio's REST API (2010-04-01) for the ``twilio`` library as its client.

Implements what the platform uses (PROTOCOLS 1.5): number search
(``AvailablePhoneNumbers/{CC}/Local|TollFree|Mobile.json``), buy, list with the ``PhoneNumber``
filter, fetch, update and release of ``IncomingPhoneNumbers``; ``Calls`` create, fetch and update
(``Status=completed``/``canceled``, ``Twiml``/``Url`` redirects); ``Messages`` create. Requests are
form-encoded PascalCase checked with HTTP Basic auth per account; answers are snake_case JSON,
201 on create, 204 on delete, list pages with exactly one list key, and Twilio's error body
``{"code", "message", "more_info", "status"}`` (20003 bad credentials, 20404 unknown resource,
21422 number not available, 21452 no numbers in an area code, 21210 unknown caller id).

It can also play Twilio's part in a call (``answer``, ``send_status``, ``hang_up``, or all of it
by itself with ``auto_answer``): POST the call's ``Url`` (signed ``X-Twilio-Signature`` with the
account's token, ``Direction=outbound-api``) and its status callbacks. The media stream is left to
``aybiza.simulator``. Codes of refusals the platform never meets are the fake's best guess.

Run alone: ``python tests/fakes/twilio_rest.py --port 9010 --account AC...:token``
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

if __name__ == "__main__":
    # Run as a script: import ``tests`` from the repository root, not this directory.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from tests.fakes.twilio_callee import CallPlayer
from tests.fakes.twilio_resources import (
    API_VERSION,
    COUNTRIES,
    NUMBER_KINDS,
    TOLL_FREE_AREA,
    FakeCall,
    FakeMessage,
    IncomingNumber,
    RecordedRequest,
    TwilioError,
    amd_tuning,
    available_json,
    basic_auth,
    candidate_numbers,
    error_json,
    form_int,
    page_json,
)

DEFAULT_ACCOUNT_SID = "AC" + "a" * 32
DEFAULT_AUTH_TOKEN = "fake-twilio-token"
_BASE = f"/{API_VERSION}/Accounts/{{account}}"


class FakeTwilio:
    """Twilio's REST API for ``accounts`` (SID -> auth token) on 127.0.0.1."""

    def __init__(
        self,
        accounts: dict[str, str] | None = None,
        *,
        port: int = 0,
        auto_answer: bool = False,
    ) -> None:
        self.accounts = dict(accounts or {DEFAULT_ACCOUNT_SID: DEFAULT_AUTH_TOKEN})
        self.port = port
        self.auto_answer = auto_answer
        self.requests: list[RecordedRequest] = []
        self.numbers: dict[str, IncomingNumber] = {}
        self.calls: dict[str, FakeCall] = {}
        self.messages: list[FakeMessage] = []
        # Numbers that cannot be bought (21422), area codes with nothing for sale (21452).
        self.unavailable: set[str] = set()
        self.sold_out_areas: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.player = CallPlayer(self.accounts, self.calls)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``client.api.base_url``."""
        return f"http://127.0.0.1:{self.port}"

    def add_number(
        self,
        account_sid: str,
        phone_number: str,
        *,
        voice_url: str = "",
        status_callback: str = "",
    ) -> IncomingNumber:
        """Give an account a number it already owns (to be imported)."""
        number = IncomingNumber(
            account_sid, phone_number, voice_url=voice_url, status_callback=status_callback
        )
        self.numbers[number.sid] = number
        return number

    def number(self, phone_number: str) -> IncomingNumber | None:
        """The owned number ``phone_number``, whichever account owns it."""
        return next((n for n in self.numbers.values() if n.phone_number == phone_number), None)

    def recorded(self, method: str, path_suffix: str) -> list[RecordedRequest]:
        """Requests with ``method`` whose path (after the account) ends with ``path_suffix``."""
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    async def start(self) -> str:
        """Listen on a free port (unless one was given); returns the base URL."""
        app = web.Application(middlewares=[_twilio_errors])
        app.add_routes(
            [
                web.get(_BASE + "/AvailablePhoneNumbers/{country}/{kind}.json", self._search),
                web.post(_BASE + "/IncomingPhoneNumbers.json", self._buy),
                web.get(_BASE + "/IncomingPhoneNumbers.json", self._list_numbers),
                web.get(_BASE + "/IncomingPhoneNumbers/{sid}.json", self._fetch_number),
                web.post(_BASE + "/IncomingPhoneNumbers/{sid}.json", self._update_number),
                web.delete(_BASE + "/IncomingPhoneNumbers/{sid}.json", self._release),
                web.post(_BASE + "/Calls.json", self._create_call),
                web.get(_BASE + "/Calls/{sid}.json", self._fetch_call),
                web.post(_BASE + "/Calls/{sid}.json", self._update_call),
                web.post(_BASE + "/Messages.json", self._create_message),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self.url

    async def stop(self) -> None:
        """Stop playing calls and listening."""
        await self.player.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # Twilio's side of a call --------------------------------------------------------------

    async def answer(self, call_sid: str) -> str:
        """The callee picked up: POST the call's ``Url`` and return the TwiML it answered."""
        return await self.player.answer(call_sid)

    async def send_status(self, call_sid: str, event: str) -> int | None:
        """POST the status callback for ``event`` if asked for; the app's HTTP status."""
        return await self.player.send_status(call_sid, event)

    async def send_amd(self, call_sid: str, answered_by: str) -> int:
        """Post the call's asynchronous answering-machine detection result."""
        return await self.player.send_amd(call_sid, answered_by)

    async def hang_up(self, call_sid: str, status: str = "completed") -> None:
        """The call ends (the callee hung up, or ``busy``/``no-answer``/``failed``)."""
        await self.player.hang_up(call_sid, status)

    # The REST endpoints -------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.Response:
        _, recorded = await self._begin(request)
        country, kind = request.match_info["country"], request.match_info["kind"]
        if country not in COUNTRIES or kind not in NUMBER_KINDS:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        size = form_int(recorded.value("PageSize"), 50)
        area = recorded.value("AreaCode") or ("415" if kind == "Local" else TOLL_FREE_AREA)
        contains = (recorded.value("Contains") or "").replace("*", "")
        owned = {n.phone_number for n in self.numbers.values()}
        offered = [
            available_json(number, country, area)
            for number in candidate_numbers(country, area)
            if number not in owned
            and number not in self.unavailable
            and contains in number
            and area not in self.sold_out_areas
        ][:size]
        uri = request.path_qs
        return _json(200, {"uri": uri, "available_phone_numbers": offered})

    async def _buy(self, request: web.Request) -> web.Response:
        account, recorded = await self._begin(request)
        wanted, area = recorded.value("PhoneNumber"), recorded.value("AreaCode")
        if wanted is None and area is None:
            raise TwilioError(400, 21421, "PhoneNumber or AreaCode is required.")
        if wanted is None:
            assert area is not None
            free = [
                n
                for n in candidate_numbers("US", area)
                if self.number(n) is None and n not in self.unavailable
            ]
            if not free or area in self.sold_out_areas:
                raise TwilioError(400, 21452, f"No phone numbers found in area code {area}.")
            wanted = free[0]
        if self.number(wanted) is not None or wanted in self.unavailable:
            raise TwilioError(400, 21422, f"PhoneNumber {wanted} is not available.")
        number = self.add_number(account, wanted)
        self._apply(number, recorded)
        return _json(201, number.as_json())

    async def _list_numbers(self, request: web.Request) -> web.Response:
        account, recorded = await self._begin(request)
        wanted = recorded.value("PhoneNumber")
        rows = [
            n.as_json()
            for n in self.numbers.values()
            if n.account_sid == account and (wanted is None or wanted in n.phone_number)
        ]
        size = form_int(recorded.value("PageSize"), 50)
        return _json(200, page_json("incoming_phone_numbers", rows[:size], request.path_qs, size))

    async def _fetch_number(self, request: web.Request) -> web.Response:
        account, _ = await self._begin(request)
        return _json(200, self._owned(account, request).as_json())

    async def _update_number(self, request: web.Request) -> web.Response:
        account, recorded = await self._begin(request)
        number = self._owned(account, request)
        self._apply(number, recorded)
        number.updated = datetime.now(UTC)
        return _json(200, number.as_json())

    async def _release(self, request: web.Request) -> web.Response:
        account, _ = await self._begin(request)
        del self.numbers[self._owned(account, request).sid]
        return web.Response(status=204)

    async def _create_call(self, request: web.Request) -> web.Response:
        account, recorded = await self._begin(request)
        to, from_ = recorded.value("To"), recorded.value("From")
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        owner = self.number(from_)
        if owner is None or owner.account_sid != account:
            raise TwilioError(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your "
                "account. You may only make calls from phone numbers that you've verified "
                "or purchased from Twilio.",
            )
        url, twiml = recorded.value("Url"), recorded.value("Twiml")
        if url is None and twiml is None and recorded.value("ApplicationSid") is None:
            raise TwilioError(400, 21205, "Url, Twiml or ApplicationSid is required.")
        detection = recorded.value("MachineDetection")
        tuning = amd_tuning(recorded.value)
        if detection is not None and detection not in ("Enable", "DetectMessageEnd"):
            raise TwilioError(400, 21234, f"Invalid MachineDetection: {detection}")
        call = FakeCall(
            account_sid=account,
            to=to,
            from_=from_,
            url=url,
            method=recorded.value("Method") or "POST",
            twiml=twiml,
            status_callback=recorded.value("StatusCallback"),
            status_callback_events=recorded.form.get("StatusCallbackEvent", []),
            machine_detection=detection,
            amd_tuning=tuning,
            async_amd_callback=(
                recorded.value("AsyncAmdStatusCallback")
                if recorded.value("AsyncAmd") == "true"
                else None
            ),
        )
        self.calls[call.sid] = call
        if self.auto_answer:
            self.player.play(call.sid)
        return _json(201, call.as_json())

    async def _fetch_call(self, request: web.Request) -> web.Response:
        account, _ = await self._begin(request)
        return _json(200, self._call(account, request).as_json())

    async def _update_call(self, request: web.Request) -> web.Response:
        account, recorded = await self._begin(request)
        call = self._call(account, request)
        status, twiml, url = (recorded.value(k) for k in ("Status", "Twiml", "Url"))
        if status is not None and status not in ("completed", "canceled"):
            raise TwilioError(400, 21218, f"Invalid Status: {status}")
        if (twiml is not None or url is not None) and not call.live:
            raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
        if twiml is not None or url is not None:
            call.redirects.append({"Twiml": twiml} if twiml is not None else {"Url": url or ""})
        # ``canceled`` only ends a call that has not been answered yet.
        ends = status == "completed" or (
            status == "canceled" and call.status in ("queued", "ringing")
        )
        if ends and call.live:
            call.status, call.ended = status or "completed", datetime.now(UTC)
            self.player.ended(call.sid)
        return _json(200, call.as_json())

    async def _create_message(self, request: web.Request) -> web.Response:
        account, recorded = await self._begin(request)
        to, from_, body = recorded.value("To"), recorded.value("From"), recorded.value("Body")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        owner = self.number(from_ or "")
        if owner is None or owner.account_sid != account:
            raise TwilioError(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        message = FakeMessage(account, to, from_ or "", body, recorded.value("StatusCallback"))
        self.messages.append(message)
        return _json(201, message.as_json())

    # Helpers ------------------------------------------------------------------------------

    async def _begin(self, request: web.Request) -> tuple[str, RecordedRequest]:
        """Record the request and check its Basic auth against the account in the path."""
        account = request.match_info["account"]
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            posted = await request.post()
            for key in posted:
                form[key] = [str(v) for v in posted.getall(key)]
        query = {key: request.query.getall(key) for key in request.query}
        tail = request.path.split(f"/Accounts/{account}", 1)[-1]
        recorded = RecordedRequest(request.method, account, tail, query, form)
        self.requests.append(recorded)
        user, token = basic_auth(request.headers.get("Authorization", ""))
        if user is None or self.accounts.get(user) != token:
            raise TwilioError(401, 20003, "Authenticate")
        if user != account:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return account, recorded

    def _owned(self, account: str, request: web.Request) -> IncomingNumber:
        number = self.numbers.get(request.match_info["sid"])
        if number is None or number.account_sid != account:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return number

    def _call(self, account: str, request: web.Request) -> FakeCall:
        call = self.calls.get(request.match_info["sid"])
        if call is None or call.account_sid != account:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return call

    @staticmethod
    def _apply(number: IncomingNumber, recorded: RecordedRequest) -> None:
        for form_key, attribute in (
            ("VoiceUrl", "voice_url"),
            ("VoiceMethod", "voice_method"),
            ("StatusCallback", "status_callback"),
            ("StatusCallbackMethod", "status_callback_method"),
            ("FriendlyName", "friendly_name"),
        ):
            value = recorded.value(form_key)
            if value is not None:
                setattr(number, attribute, value)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


@web.middleware
async def _twilio_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A ``TwilioError`` raised by a handler becomes Twilio's error JSON."""
    try:
        response: web.StreamResponse = await handler(request)
    except TwilioError as exc:
        return web.json_response(error_json(exc.status, exc.code, exc.message), status=exc.status)
    return response


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the fake until interrupted; prints its URL."""
    parser = argparse.ArgumentParser(description="A fake Twilio REST API (2010-04-01).")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="SID:TOKEN",
        help=f"an account it accepts (default {DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN})",
    )
    parser.add_argument("--auto-answer", action="store_true", help="answer every call placed")
    args = parser.parse_args(argv)
    accounts = dict(item.split(":", 1) for item in args.account) or None

    async def serve() -> None:
        async with FakeTwilio(accounts, port=args.port, auto_answer=args.auto_answer) as fake:
            print(fake.url, flush=True)
            await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
