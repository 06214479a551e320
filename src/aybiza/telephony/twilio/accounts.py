"""Which Twilio account acts for a phone number, and the URLs Twilio is given.

``managed`` numbers live on the platform's account (``TWILIO_ACCOUNT_SID`` /
``TWILIO_AUTH_TOKEN``); ``twilio`` numbers imported with the customer's credentials live on the
customer's account, whose auth token is kept sealed in the number's ``provider_data``
(``account_sid``, ``auth_token_sealed``). Twilio signs a number's webhooks with the token of the
account that owns it, so the same lookup tells which token checks ``X-Twilio-Signature``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import structlog

from aybiza.config import Settings
from aybiza.errors import invalid
from aybiza.security.secretbox import SecretBox, SecretBoxError
from aybiza.store.models import PhoneNumber
from aybiza.telephony.twilio.rest import TwilioCredentials, TwilioRest

log = structlog.get_logger(__name__)

VOICE_PATH = "/twilio/voice"
STATUS_PATH = "/twilio/status"


class TwilioAccounts:
    """The platform's Twilio account, customers' accounts of imported numbers, and the REST
    client that acts for them."""

    def __init__(self, settings: Settings, box: SecretBox, rest: TwilioRest) -> None:
        self.rest = rest
        self._box = box
        self._platform_token = settings.twilio_auth_token
        self.platform = (
            TwilioCredentials(settings.twilio_account_sid, settings.twilio_auth_token)
            if settings.twilio_account_sid and settings.twilio_auth_token
            else None
        )
        self._public_url = settings.public_url.rstrip("/") if settings.public_url else None
        self._region_path = settings.region_path

    def url(self, path: str, field: str, *, pinned: bool = False, **query: str) -> str:
        """``AYBIZA_PUBLIC_URL`` + ``path`` (+ query): where Twilio reaches this platform.
        ``pinned``: the URL is about a call of this region (``/regions/<region>`` goes before
        ``path`` when ``AYBIZA_REGION`` is set, so the edge brings it back here).

        Raises ``Invalid`` naming ``field`` (the request field that needs Twilio) when the
        public URL is not configured."""
        if self._public_url is None:
            raise invalid(
                field,
                "Twilio must be able to reach this platform: set AYBIZA_PUBLIC_URL on the server "
                "(e.g. https://voice.example.com) to place calls or provision numbers",
            )
        suffix = f"?{urlencode(query)}" if query else ""
        prefix = self._region_path if pinned else ""
        return f"{self._public_url}{prefix}{path}{suffix}"

    def sealed_customer(self, account_sid: str, auth_token: str) -> dict[str, Any]:
        """What ``provider_data`` keeps of a customer's credentials: the token sealed."""
        return {"account_sid": account_sid, "auth_token_sealed": self._box.seal(auth_token)}

    def customer(self, number: PhoneNumber) -> TwilioCredentials | None:
        """The customer's credentials of an imported number (None for other numbers)."""
        data = number.provider_data or {}
        sid, sealed = data.get("account_sid"), data.get("auth_token_sealed")
        if number.type != "twilio" or not isinstance(sid, str) or not isinstance(sealed, str):
            return None
        try:
            return TwilioCredentials(sid, self._box.open(sealed))
        except SecretBoxError:
            log.warning("twilio.customer_token_unreadable", number_id=number.id)
            return None

    def for_number(self, number: PhoneNumber) -> TwilioCredentials | None:
        """The account that can place calls from ``number``: the customer's for an imported
        number, else the platform's (``managed`` numbers, and ``twilio`` numbers recorded
        without credentials, which must then be on the platform's account); None for SIP
        trunk numbers or when nothing is configured."""
        if number.type == "sip_trunk":
            return None
        return self.customer(number) or self.platform

    def webhook_account(self, number: PhoneNumber | None) -> str | None:
        """The ``AccountSid`` Twilio sends with this number's webhooks (None: not known, so not
        checked): the customer's for an imported number, else the platform's."""
        customer = self.customer(number) if number is not None else None
        if customer is not None:
            return customer.account_sid
        return self.platform.account_sid if self.platform is not None else None

    def webhook_token(self, number: PhoneNumber | None) -> str | None:
        """The auth token Twilio signs this number's webhooks with (None: not checked)."""
        customer = self.customer(number) if number is not None else None
        return customer.auth_token if customer is not None else self._platform_token
