"""``send_sms`` through Twilio's Messages API, with the platform's one Twilio REST client.

The account is the tenant's own Twilio account when the call came in on one of its ``twilio``
numbers (the number's ``provider_data`` holds ``account_sid`` and ``auth_token_sealed``), else
the platform's (``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN``). The API's base URL is
``AYBIZA_TWILIO_API_URL`` when set.
"""

from __future__ import annotations

from typing import Any

from aybiza.automation.messaging import SmsError, SmsSender
from aybiza.store.models import PhoneNumber
from aybiza.telephony.twilio.accounts import TwilioAccounts
from aybiza.telephony.twilio.rest import TwilioCredentials, TwilioRestError


class TwilioSms:
    """An ``SmsSender`` for one Twilio account."""

    def __init__(self, accounts: TwilioAccounts, credentials: TwilioCredentials) -> None:
        self._accounts = accounts
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"TwilioSms({self._credentials.account_sid!r})"

    async def send(self, *, to: str, from_: str, body: str) -> dict[str, Any]:
        try:
            message = await self._accounts.rest.send_message(
                self._credentials, to=to, from_=from_, body=body
            )
        except TwilioRestError as exc:
            if exc.status is None:
                raise SmsError(f"Twilio could not be reached: {exc.message}") from exc
            raise SmsError(
                f"Twilio refused the message ({exc.status}, code {exc.code}): {exc.message}"
            ) from exc
        return {"sid": message.sid, "status": message.status, "to": to, "from": from_}


class TwilioMessaging:
    """``Messaging`` through Twilio: the tenant's account for its ``twilio`` numbers, else the
    platform's."""

    def __init__(self, accounts: TwilioAccounts) -> None:
        self._accounts = accounts

    def sender_for(self, number: PhoneNumber | None) -> SmsSender | None:
        customer = self._accounts.customer(number) if number is not None else None
        credentials = customer or self._accounts.platform
        return TwilioSms(self._accounts, credentials) if credentials is not None else None
