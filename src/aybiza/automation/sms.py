"""``send_sms`` through Twilio's Messages API, with the ``twilio`` library as the client.

The account is the tenant's own Twilio account when the call came in on one of its ``twilio``
numbers (the number's ``provider_data`` holds ``account_sid`` and ``auth_token_sealed``, sealed
with the platform's ``SecretBox``), else the platform's (``TWILIO_ACCOUNT_SID`` /
``TWILIO_AUTH_TOKEN``). The API's base URL is ``AYBIZA_TWILIO_API_URL`` when set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from aybiza.config import Settings
from aybiza.security.secretbox import SecretBox, SecretBoxError
from aybiza.store.models import PhoneNumber


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """Credentials for Twilio's REST API and where it is (None: api.twilio.com)."""

    account_sid: str
    auth_token: str = ""
    api_url: str | None = None
    source: str = "platform"

    def __repr__(self) -> str:
        return f"TwilioAccount({self.account_sid!r}, source={self.source!r})"


class SmsError(Exception):
    """The message was not accepted; the message says why (it goes back to the model)."""


def twilio_account(
    settings: Settings, box: SecretBox, number: PhoneNumber | None
) -> TwilioAccount | None:
    """The account to send from: the tenant's for its ``twilio`` numbers, else the platform's;
    None when neither is configured."""
    if number is not None and number.type == "twilio":
        data = number.provider_data or {}
        sid, sealed = data.get("account_sid"), data.get("auth_token_sealed")
        if isinstance(sid, str) and isinstance(sealed, str):
            try:
                token = box.open(sealed)
            except SecretBoxError:
                token = None
            if token:
                return TwilioAccount(sid, token, settings.twilio_api_url, source="tenant")
    if settings.twilio_account_sid and settings.twilio_auth_token:
        return TwilioAccount(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
        )
    return None


async def send_sms(
    account: TwilioAccount, *, to: str, from_: str, body: str, timeout_s: float = 10.0
) -> dict[str, Any]:
    """Create the message; returns Twilio's ``sid`` and ``status``. Raises SmsError."""
    http = AsyncTwilioHttpClient(pool_connections=False, timeout=timeout_s)
    client = Client(account.account_sid, account.auth_token, http_client=http)
    if account.api_url:
        client.api.base_url = account.api_url.rstrip("/")
    try:
        message = await client.messages.create_async(to=to, from_=from_, body=body)
    except TwilioRestException as exc:
        raise SmsError(
            f"Twilio refused the message ({exc.status}, code {exc.code}): {exc.msg}"
        ) from exc
    except Exception as exc:
        raise SmsError(f"Twilio could not be reached: {type(exc).__name__}: {exc}") from exc
    return {
        "sid": str(message.sid),
        "status": str(message.status),
        "to": str(message.to),
        "from": str(message.from_),
    }
