"""The incoming-call webhook as Twilio sends it, and the TwiML that comes back.

Twilio POSTs a form to ``/twilio/voice`` signed with ``X-Twilio-Signature`` (PROTOCOLS 1.1, 1.4)
and expects TwiML whose ``<Connect><Stream>`` names the WebSocket to open (1.2).
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
from twilio.request_validator import RequestValidator

from aybiza.simulator.errors import ServerUnreachableError, WebhookError

WEBHOOK_PATH = "/twilio/voice"


def new_call_sid() -> str:
    """A fresh Twilio call SID: ``CA`` + 32 hex."""
    return "CA" + secrets.token_hex(16)


def new_account_sid() -> str:
    """A fresh Twilio account SID: ``AC`` + 32 hex."""
    return "AC" + secrets.token_hex(16)


def new_stream_sid() -> str:
    """A fresh Media Streams SID: ``MZ`` + 32 hex."""
    return "MZ" + secrets.token_hex(16)


def sign(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """``X-Twilio-Signature`` for ``url`` and form ``params``, with Twilio's own algorithm."""
    signature: str = RequestValidator(auth_token).compute_signature(url, dict(params or {}))
    return signature


def incoming_call_form(*, call_sid: str, account_sid: str, from_: str, to: str) -> dict[str, str]:
    """The form fields of a new inbound call, as Twilio sends them (legacy duplicates included)."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": to,
        "Caller": from_,
        "Direction": "inbound",
        "From": from_,
        "To": to,
    }


@dataclass(frozen=True, slots=True)
class TwimlAnswer:
    """What the server's TwiML asks Twilio to do."""

    twiml: str
    # The ``<Stream url>`` exactly as written (``wss://...``), or None when there is no stream.
    stream_url: str | None
    custom_parameters: dict[str, str] = field(default_factory=dict)
    # Text of any ``<Say>`` verbs, in order (what a refused caller would hear).
    spoken: list[str] = field(default_factory=list)


def parse_twiml(text: str) -> TwimlAnswer:
    """Read the stream URL, its ``<Parameter>``s and any ``<Say>`` text from a TwiML document."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise WebhookError(
            f"the webhook answer is not TwiML (XML error: {exc}); received {text[:200]!r}",
            body=text,
        ) from exc
    if root.tag != "Response":
        raise WebhookError(
            f"the webhook answer's root element must be <Response>, received <{root.tag}>",
            body=text,
        )
    spoken = [(say.text or "").strip() for say in root.iter("Say")]
    stream = root.find("./Connect/Stream")
    if stream is None:
        return TwimlAnswer(twiml=text, stream_url=None, spoken=spoken)
    url = stream.get("url")
    if not url:
        raise WebhookError("the TwiML <Stream> has no url attribute", body=text)
    parameters = {
        p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter") if p.get("name")
    }
    return TwimlAnswer(twiml=text, stream_url=url, custom_parameters=parameters, spoken=spoken)


def stream_connect_url(stream_url: str, base_url: str) -> str:
    """The URL to open for ``stream_url``: ``wss://`` becomes ``ws://`` when the server is plain
    HTTP, since a local server has no TLS; host and path stay as the TwiML wrote them."""
    if urlsplit(base_url).scheme != "http":
        return stream_url
    parts = urlsplit(stream_url)
    if parts.scheme != "wss":
        return stream_url
    return urlunsplit(("ws", parts.netloc, parts.path, parts.query, parts.fragment))


async def post_incoming_call(
    base_url: str,
    form: Mapping[str, str],
    *,
    auth_token: str | None,
    client: httpx.AsyncClient | None = None,
    timeout_s: float = 15.0,
) -> TwimlAnswer:
    """POST the signed incoming-call webhook to ``{base_url}/twilio/voice`` and parse the TwiML.

    Raises ServerUnreachableError when nothing answers, WebhookError on an error status or a
    body that is not TwiML.
    """
    url = base_url.rstrip("/") + WEBHOOK_PATH
    headers = {"X-Twilio-Signature": sign(auth_token, url, form)} if auth_token else {}
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=timeout_s)
    try:
        response = await http.post(url, data=dict(form), headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise ServerUnreachableError(url, str(exc) or type(exc).__name__) from exc
    except httpx.HTTPError as exc:
        raise WebhookError(f"POST {url} failed: {exc or type(exc).__name__}") from exc
    finally:
        if own_client:
            await http.aclose()
    if response.status_code >= 300:
        raise WebhookError(
            f"POST {url} answered HTTP {response.status_code}: {response.text[:300]}",
            status_code=response.status_code,
            body=response.text,
        )
    return parse_twiml(response.text)
