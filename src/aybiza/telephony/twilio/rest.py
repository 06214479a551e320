"""Twilio's REST API (2010-04-01) as the platform uses it: numbers, calls and messages.

A thin async layer over the ``twilio`` library's own asynchronous client (its aiohttp-based
``AsyncTwilioHttpClient`` and the ``*_async`` methods), so no thread is held per request. The
credentials are given per operation: the platform's account for ``managed`` numbers, the
customer's for numbers imported from their own account. ``base_url`` replaces
``https://api.twilio.com`` (``AYBIZA_TWILIO_API_URL``; tests point it at a fake). Every failure
becomes a ``TwilioRestError`` carrying Twilio's HTTP status and error code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

T = TypeVar("T")
NumberKind = Literal["local", "toll_free", "mobile"]
# Every progress event of a REST-created call (PROTOCOLS 1.3).
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
DEFAULT_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class TwilioCredentials:
    """An account's SID and auth token (the token never appears in ``repr``)."""

    account_sid: str
    auth_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AvailableNumber:
    """A number Twilio offers for purchase."""

    phone_number: str
    friendly_name: str
    locality: str | None
    region: str | None
    iso_country: str | None


@dataclass(frozen=True, slots=True)
class IncomingNumber:
    """A number owned by an account, with the webhooks it calls."""

    sid: str
    phone_number: str
    voice_url: str | None
    voice_method: str | None
    status_callback: str | None
    status_callback_method: str | None


@dataclass(frozen=True, slots=True)
class Resource:
    """A created or updated call or message: its SID and status."""

    sid: str
    status: str


class TwilioRestError(Exception):
    """Twilio refused a request (``status`` and ``code`` are Twilio's) or could not be reached
    (both None)."""

    def __init__(
        self, action: str, message: str, *, status: int | None = None, code: int | None = None
    ) -> None:
        self.action, self.message, self.status, self.code = action, message, status, code
        if status is None:
            text = f"could not {action}: {message}"
        else:
            text = f"Twilio refused to {action} (HTTP {status}, code {code}): {message}"
        super().__init__(text)


class TwilioRest:
    """The REST operations, each under a timeout; close with ``aclose``."""

    def __init__(self, base_url: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S):
        self._base_url = base_url.rstrip("/") if base_url else None
        self._timeout_s = timeout_s
        self._http: AsyncTwilioHttpClient | None = None

    async def search_numbers(
        self,
        account: TwilioCredentials,
        *,
        country: str = "US",
        kind: NumberKind = "local",
        area_code: str | None = None,
        contains: str | None = None,
        page_size: int = 5,
    ) -> list[AvailableNumber]:
        """Voice-capable numbers for sale in ``country``, optionally in an area code or
        containing a pattern."""
        filters: dict[str, Any] = {"voice_enabled": True, "limit": page_size}
        if area_code is not None:
            filters["area_code"] = area_code
        if contains is not None:
            filters["contains"] = contains
        country_numbers = self._client(account).available_phone_numbers(country)
        listing = getattr(country_numbers, kind)
        found = await self._run("search for numbers", listing.list_async(**filters))
        return [
            AvailableNumber(
                phone_number=str(n.phone_number),
                friendly_name=str(n.friendly_name or n.phone_number),
                locality=n.locality,
                region=n.region,
                iso_country=n.iso_country,
            )
            for n in found
        ]

    async def buy_number(
        self,
        account: TwilioCredentials,
        *,
        voice_url: str,
        status_callback: str | None,
        phone_number: str | None = None,
        area_code: str | None = None,
    ) -> IncomingNumber:
        """Buy ``phone_number`` (or any number in ``area_code``) with its voice webhook set."""
        fields: dict[str, Any] = {"voice_url": voice_url, "voice_method": "POST"}
        if status_callback is not None:
            fields |= {"status_callback": status_callback, "status_callback_method": "POST"}
        if phone_number is not None:
            fields["phone_number"] = phone_number
        if area_code is not None:
            fields["area_code"] = area_code
        created = self._client(account).incoming_phone_numbers.create_async(**fields)
        return _incoming(await self._run("buy the number", created))

    async def find_number(self, account: TwilioCredentials, e164: str) -> IncomingNumber | None:
        """The account's number ``e164`` with its current webhooks, or None."""
        listing = self._client(account).incoming_phone_numbers.list_async(
            phone_number=e164, limit=20
        )
        found = await self._run("look up the number", listing)
        # The filter matches patterns too: keep the exact number only.
        return next((_incoming(n) for n in found if n.phone_number == e164), None)

    async def update_number(
        self,
        account: TwilioCredentials,
        sid: str,
        *,
        voice_url: str,
        voice_method: str,
        status_callback: str | None = None,
        status_callback_method: str | None = None,
    ) -> IncomingNumber:
        """Point the number's voice webhook (and status callback) at new URLs; an empty string
        clears a URL."""
        fields: dict[str, Any] = {"voice_url": voice_url, "voice_method": voice_method}
        if status_callback is not None:
            fields["status_callback"] = status_callback
        if status_callback_method is not None:
            fields["status_callback_method"] = status_callback_method
        updated = self._client(account).incoming_phone_numbers(sid).update_async(**fields)
        return _incoming(await self._run("update the number", updated))

    async def release_number(self, account: TwilioCredentials, sid: str) -> None:
        """Give the number back to Twilio (it stops billing and answering)."""
        await self._run(
            "release the number", self._client(account).incoming_phone_numbers(sid).delete_async()
        )

    async def create_call(
        self,
        account: TwilioCredentials,
        *,
        to: str,
        from_: str,
        url: str | None = None,
        twiml: str | None = None,
        status_callback: str | None = None,
        events: Sequence[str] = CALL_EVENTS,
        timeout_s: int | None = None,
        machine_detection: str | None = None,
        amd_status_callback: str | None = None,
        amd_tuning: Mapping[str, int] | None = None,
    ) -> Resource:
        """Place a call from ``from_`` to ``to``; Twilio fetches ``url`` (POST) or runs
        ``twiml`` when it is answered. ``machine_detection`` (``Enable`` or
        ``DetectMessageEnd``) turns on answering-machine detection; with
        ``amd_status_callback`` it runs asynchronously (``AsyncAmd``) and posts its result
        there while the call is already connected. ``amd_tuning`` maps the SDK's
        ``machine_detection_*`` arguments (``MachineDetectionTimeout``...) to their values."""
        fields: dict[str, Any] = {"to": to, "from_": from_}
        if url is not None:
            fields |= {"url": url, "method": "POST"}
        if twiml is not None:
            fields["twiml"] = twiml
        if status_callback is not None:
            fields |= {
                "status_callback": status_callback,
                "status_callback_event": list(events),
                "status_callback_method": "POST",
            }
        if timeout_s is not None:
            fields["timeout"] = timeout_s
        if machine_detection is not None:
            fields["machine_detection"] = machine_detection
        if machine_detection is not None and amd_tuning:
            fields |= dict(amd_tuning)
        if amd_status_callback is not None:
            fields |= {
                "async_amd": "true",
                "async_amd_status_callback": amd_status_callback,
                "async_amd_status_callback_method": "POST",
            }
        call = await self._run("place the call", self._client(account).calls.create_async(**fields))
        return Resource(sid=str(call.sid), status=str(call.status))

    async def update_call(
        self,
        account: TwilioCredentials,
        sid: str,
        *,
        status: Literal["completed", "canceled"] | None = None,
        twiml: str | None = None,
        url: str | None = None,
    ) -> Resource:
        """End a call (``completed``; ``canceled`` for one still queued or ringing) or send it
        new instructions (``twiml``, or ``url`` fetched with POST)."""
        fields: dict[str, Any] = {}
        if status is not None:
            fields["status"] = status
        if twiml is not None:
            fields["twiml"] = twiml
        if url is not None:
            fields |= {"url": url, "method": "POST"}
        call = await self._run(
            "update the call", self._client(account).calls(sid).update_async(**fields)
        )
        return Resource(sid=str(call.sid), status=str(call.status))

    async def send_message(
        self,
        account: TwilioCredentials,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str | None = None,
    ) -> Resource:
        """Send an SMS from one of the account's numbers."""
        fields: dict[str, Any] = {"to": to, "from_": from_, "body": body}
        if status_callback is not None:
            fields["status_callback"] = status_callback
        message = await self._run(
            "send the message", self._client(account).messages.create_async(**fields)
        )
        return Resource(sid=str(message.sid), status=str(message.status))

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _client(self, account: TwilioCredentials) -> Any:
        if self._http is None:
            # Created on first use: its aiohttp session belongs to the running event loop.
            self._http = AsyncTwilioHttpClient()
        client = Client(account.account_sid, account.auth_token, http_client=self._http)
        if self._base_url is not None:
            client.api.base_url = self._base_url
        return client

    async def _run(self, action: str, operation: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await operation
        except TwilioRestException as exc:
            code = exc.code if isinstance(exc.code, int) else None
            raise TwilioRestError(action, str(exc.msg), status=exc.status, code=code) from exc
        except TimeoutError as exc:
            raise TwilioRestError(action, f"no answer within {self._timeout_s:g} s") from exc
        except TwilioException as exc:
            raise _page_error(action, exc) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TwilioRestError(action, f"{type(exc).__name__}: {exc}") from exc


def _page_error(action: str, exc: TwilioException) -> TwilioRestError:
    """List pages fail with a plain ``TwilioException("Unable to fetch page", response)``: read
    Twilio's status and error code from the response it carries."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    try:
        body = json.loads(getattr(response, "text", "") or "{}")
    except ValueError:
        body = {}
    if not isinstance(status, int) or not isinstance(body, dict):
        return TwilioRestError(action, str(exc))
    code = body.get("code") if isinstance(body.get("code"), int) else None
    return TwilioRestError(action, str(body.get("message", exc)), status=status, code=code)


def _incoming(number: Any) -> IncomingNumber:
    return IncomingNumber(
        sid=str(number.sid),
        phone_number=str(number.phone_number),
        voice_url=number.voice_url,
        voice_method=number.voice_method,
        status_callback=number.status_callback,
        status_callback_method=number.status_callback_method,
    )
