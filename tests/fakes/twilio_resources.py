"""The resources of the fake Twilio REST API and their JSON, field for field as PROTOCOLS 1.5
(and twilio-python's instance classes) describe them: snake_case keys, RFC 2822 dates, ``uri``s
under ``/2010-04-01/Accounts/{AC}/``; and what every endpoint shares: the recorded request, Basic
auth, Twilio's error JSON."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"
# Numbers for sale, by country: the calling code and how a national number is built from an
# area code and a line number.
COUNTRIES = {"US": ("+1", 10), "CA": ("+1", 10), "GB": ("+44", 10)}
NUMBER_KINDS = {"Local": "local", "TollFree": "toll_free", "Mobile": "mobile"}
TOLL_FREE_AREA = "800"
# Statuses a call can end in (nothing changes them afterwards).
ENDED_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")


class TwilioError(Exception):
    """A refusal the fake answers with Twilio's error JSON."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received: the account it named, the path after it, query and form
    (every value of repeated keys)."""

    method: str
    account_sid: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]

    def value(self, name: str) -> str | None:
        """The last value of form field (or query parameter) ``name``."""
        values = self.form.get(name) or self.query.get(name)
        return values[-1] if values else None


def basic_auth(header: str) -> tuple[str | None, str | None]:
    """The user and password of an ``Authorization: Basic`` header (None, None otherwise)."""
    if not header.startswith("Basic "):
        return None, None
    try:
        user, _, token = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return user, token


def form_int(value: str | None, default: int) -> int:
    """A numeric form field, or ``default`` when absent or not a number."""
    return int(value) if value is not None and value.isdigit() else default


# Answering-machine detection tuning and its ranges (Twilio error 21234: "Invalid Machine
# Detection configuration value": Timeout 3-59 s, SpeechThreshold 1000-6000 ms,
# SpeechEndThreshold 500-5000 ms, SilenceTimeout 2000-10000 ms).
AMD_RANGES = {
    "MachineDetectionTimeout": (3, 59),
    "MachineDetectionSpeechThreshold": (1000, 6000),
    "MachineDetectionSpeechEndThreshold": (500, 5000),
    "MachineDetectionSilenceTimeout": (2000, 10000),
}


def amd_tuning(value: Callable[[str], str | None]) -> dict[str, int]:
    """The AMD tuning parameters of a request (``value`` reads a form field), checked as
    Twilio does: an integer within its range, else error 21234 naming the parameter."""
    tuning: dict[str, int] = {}
    for name, (low, high) in AMD_RANGES.items():
        raw = value(name)
        if raw is None:
            continue
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise TwilioError(
                400, 21234, f"Invalid {name}: {raw}. It must be between {low} and {high}."
            )
        tuning[name] = int(raw)
    return tuning


def new_sid(prefix: str) -> str:
    """A SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None = None) -> str:
    """A date as Twilio writes it: ``Thu, 30 Jul 2015 23:19:04 +0000``."""
    return format_datetime(moment or datetime.now(UTC)).replace("-0000", "+0000")


def account_uri(account_sid: str, tail: str) -> str:
    """``/2010-04-01/Accounts/{AC}/{tail}``."""
    return f"/{API_VERSION}/Accounts/{account_sid}/{tail}"


@dataclass
class IncomingNumber:
    """A number an account owns, with its webhooks."""

    account_sid: str
    phone_number: str
    voice_url: str = ""
    voice_method: str = "POST"
    status_callback: str = ""
    status_callback_method: str = "POST"
    friendly_name: str = ""
    sid: str = field(default_factory=lambda: new_sid("PN"))
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        """The IncomingPhoneNumber resource."""
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "phone_number": self.phone_number,
            "friendly_name": self.friendly_name or friendly(self.phone_number),
            "voice_url": self.voice_url or None,
            "voice_method": self.voice_method,
            "voice_fallback_url": None,
            "voice_fallback_method": "POST",
            "voice_caller_id_lookup": False,
            "voice_application_sid": None,
            "status_callback": self.status_callback or None,
            "status_callback_method": self.status_callback_method,
            "sms_url": None,
            "sms_method": "POST",
            "trunk_sid": None,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "status": "in-use",
            "origin": "twilio",
            "beta": False,
            "api_version": API_VERSION,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.updated),
            "uri": account_uri(self.account_sid, f"IncomingPhoneNumbers/{self.sid}.json"),
        }


@dataclass
class FakeCall:
    """A call placed through the REST API, and what the fake did with it."""

    account_sid: str
    to: str
    from_: str
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    status_callback_events: list[str]
    status: str = "queued"
    sid: str = field(default_factory=lambda: new_sid("CA"))
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: datetime | None = None
    ended: datetime | None = None
    # New instructions sent with updates (``Twiml`` or ``Url``), in order.
    redirects: list[dict[str, str]] = field(default_factory=list)
    # TwiML the fake fetched from ``url`` when it answered the call.
    answered_twiml: str | None = None
    # Status callbacks the fake sent: (event, HTTP status of the app's answer).
    callbacks: list[tuple[str, int]] = field(default_factory=list)
    # Answering-machine detection asked for: ``Enable`` or ``DetectMessageEnd`` (None: off),
    # and where an asynchronous one posts ``AnsweredBy`` (``AsyncAmdStatusCallback``).
    machine_detection: str | None = None
    async_amd_callback: str | None = None
    # Its tuning (``MachineDetectionTimeout``, ...: the parameters sent, as integers).
    amd_tuning: dict[str, int] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        """The call has not ended."""
        return self.status not in ENDED_STATUSES

    @property
    def duration(self) -> int:
        """Whole seconds from answer to end (0 if never answered)."""
        if self.started is None:
            return 0
        end = self.ended or datetime.now(UTC)
        return int((end - self.started).total_seconds())

    def as_json(self) -> dict[str, Any]:
        """The Call resource."""
        uri = account_uri(self.account_sid, f"Calls/{self.sid}")
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "parent_call_sid": None,
            "to": self.to,
            "to_formatted": friendly(self.to),
            "from": self.from_,
            "from_formatted": friendly(self.from_),
            "phone_number_sid": None,
            "status": self.status,
            "start_time": rfc2822(self.started) if self.started else None,
            "end_time": rfc2822(self.ended) if self.ended else None,
            "duration": str(self.duration) if self.ended else None,
            "price": None,
            "price_unit": "USD",
            "direction": "outbound-api",
            "answered_by": None,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(),
            "uri": uri + ".json",
            "subresource_uris": {
                "notifications": uri + "/Notifications.json",
                "recordings": uri + "/Recordings.json",
                "streams": uri + "/Streams.json",
            },
        }


@dataclass
class FakeMessage:
    """A message created through the REST API."""

    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None = None
    sid: str = field(default_factory=lambda: new_sid("SM"))
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        """The Message resource, as created (``queued``)."""
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": None,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": str(max(1, -(-len(self.body) // 160))),
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "api_version": API_VERSION,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created),
            "date_sent": None,
            "uri": account_uri(self.account_sid, f"Messages/{self.sid}.json"),
            "subresource_uris": {
                "media": account_uri(self.account_sid, f"Messages/{self.sid}/Media.json")
            },
        }


def available_json(phone_number: str, country: str, area: str) -> dict[str, Any]:
    """One entry of an AvailablePhoneNumbers page."""
    return {
        "friendly_name": friendly(phone_number),
        "phone_number": phone_number,
        "lata": "722",
        "locality": "San Francisco" if area == "415" else "Springfield",
        "rate_center": "SNFC",
        "latitude": "37.77",
        "longitude": "-122.41",
        "region": "CA" if country == "US" else None,
        "postal_code": "94103",
        "iso_country": country,
        "address_requirements": "none",
        "beta": False,
        "capabilities": {"voice": True, "sms": True, "mms": True},
    }


def page_json(key: str, records: list[dict[str, Any]], uri: str, page_size: int) -> dict[str, Any]:
    """A list page: the records under exactly one list key, the rest paging metadata."""
    return {
        key: records,
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
        "page": 0,
        "page_size": page_size,
        "start": 0,
        "end": max(0, len(records) - 1),
    }


def error_json(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error body."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def friendly(e164: str) -> str:
    """``+14155550100`` -> ``(415) 555-0100``; other numbers as they are."""
    if e164.startswith("+1") and len(e164) == 12:
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    return e164


def candidate_numbers(country: str, area: str) -> list[str]:
    """The numbers the fake sells in an area: ``{area}555`` plus 0100 to 0199."""
    prefix, national = COUNTRIES[country]
    stem = area + "555"
    width = national - len(stem)
    return [prefix + stem + str(line).zfill(width) for line in range(100, 200)]
