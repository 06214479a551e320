"""``TwilioProvisioner``: phone numbers through Twilio's REST API.

- ``managed``: bought on the platform's account (the number asked for, or the first one for
  sale in ``area_code``/``country``) with its voice URL set to ``{AYBIZA_PUBLIC_URL}/twilio/voice``
  and its status callback to ``/twilio/status``; released on delete.
- ``twilio`` with the customer's ``twilio_account_sid``/``twilio_auth_token``: the customer's
  number is pointed at the same URLs, its previous webhooks kept in ``provider_data`` and
  restored on delete. Without credentials the number is only recorded (``external``).
- ``sip_trunk``: recorded only; the SIP edge answers it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aybiza.errors import Conflict, Invalid, invalid
from aybiza.store.models import PhoneNumber
from aybiza.telephony.provisioning import (
    BOUGHT,
    EXTERNAL,
    IMPORTED,
    NumberRequest,
    Provisioned,
    ProvisioningError,
)
from aybiza.telephony.twilio.accounts import STATUS_PATH, VOICE_PATH, TwilioAccounts
from aybiza.telephony.twilio.rest import IncomingNumber, TwilioCredentials, TwilioRestError

# Twilio's codes for a number that cannot be bought.
_NOT_FOR_SALE = (21421, 21422, 21452)


class TwilioProvisioner:
    """Buys, imports, releases and restores numbers at Twilio."""

    def __init__(self, accounts: TwilioAccounts) -> None:
        self._accounts = accounts

    async def provision(self, request: NumberRequest) -> Provisioned:
        """Make the number reach this platform (see the module docstring per type)."""
        if request.type == "managed":
            return await self._buy(request)
        if request.type == "twilio" and request.twilio_account_sid is not None:
            return await self._import(request)
        return Provisioned(status=EXTERNAL)

    async def release(self, number: PhoneNumber) -> None:
        """Release a bought number; restore an imported number's previous webhooks. A number
        Twilio no longer knows counts as released."""
        data = number.provider_data or {}
        if number.provisioning == BOUGHT:
            platform = self._accounts.platform
            if platform is None:
                raise ProvisioningError(
                    "the platform's Twilio credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) are "
                    "no longer configured, so the number cannot be released"
                )
            await self._undo(self._accounts.rest.release_number(platform, data["number_sid"]))
        elif number.provisioning == IMPORTED:
            customer = self._accounts.customer(number)
            if customer is None:
                raise ProvisioningError(
                    "the stored Twilio auth token cannot be opened (was AYBIZA_SECRET_KEY "
                    "changed?), so the number's previous voice URL cannot be restored",
                    field="twilio_auth_token",
                )
            previous: dict[str, Any] = data.get("previous") or {}
            restore = self._accounts.rest.update_number(
                customer,
                data["number_sid"],
                voice_url=previous.get("voice_url") or "",
                voice_method=previous.get("voice_method") or "POST",
                status_callback=previous.get("status_callback") or "",
                status_callback_method=previous.get("status_callback_method") or "POST",
            )
            await self._undo(restore)

    async def _buy(self, request: NumberRequest) -> Provisioned:
        platform = self._accounts.platform
        if platform is None:
            raise invalid(
                "type",
                "managed numbers are bought on the platform's Twilio account, and this server "
                "has none (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN); register your own number "
                "as type twilio or sip_trunk instead",
                request.type,
            )
        field = "number" if request.e164 is not None else "area_code"
        voice = self._accounts.url(VOICE_PATH, field)
        status = self._accounts.url(STATUS_PATH, field)
        rest = self._accounts.rest
        wanted = request.e164
        if wanted is None:
            try:
                offered = await rest.search_numbers(
                    platform, country=request.country, area_code=request.area_code, page_size=1
                )
            except TwilioRestError as exc:
                if exc.status == 404:
                    raise invalid(
                        "country", "Twilio sells no numbers in this country", request.country
                    ) from exc
                raise _failed(exc, "area_code") from exc
            if not offered:
                raise Conflict(
                    f"Twilio has no numbers for sale in area code {request.area_code} "
                    f"({request.country})",
                    field="area_code",
                    code="number_unavailable",
                )
            wanted = offered[0].phone_number
        try:
            bought = await rest.buy_number(
                platform, phone_number=wanted, voice_url=voice, status_callback=status
            )
        except TwilioRestError as exc:
            if exc.code in _NOT_FOR_SALE:
                raise Conflict(
                    f"{wanted} is not available from Twilio (code {exc.code}: {exc.message})",
                    field=field,
                    code="number_unavailable",
                ) from exc
            raise _failed(exc, field) from exc
        data = {"account_sid": platform.account_sid, "number_sid": bought.sid}
        return Provisioned(status=BOUGHT, provider_data=data, e164=bought.phone_number)

    async def _import(self, request: NumberRequest) -> Provisioned:
        sid, token, e164 = request.twilio_account_sid, request.twilio_auth_token, request.e164
        assert sid is not None and token is not None and e164 is not None, "checked by the service"
        customer = TwilioCredentials(sid, token)
        voice = self._accounts.url(VOICE_PATH, "twilio_account_sid")
        status = self._accounts.url(STATUS_PATH, "twilio_account_sid")
        rest = self._accounts.rest
        try:
            current = await rest.find_number(customer, e164)
            if current is None:
                raise invalid("number", f"not a number of Twilio account {sid}", e164)
            await rest.update_number(
                customer,
                current.sid,
                voice_url=voice,
                voice_method="POST",
                status_callback=status,
                status_callback_method="POST",
            )
        except TwilioRestError as exc:
            raise _customer_error(exc) from exc
        return Provisioned(
            status=IMPORTED,
            provider_data={
                **self._accounts.sealed_customer(sid, token),
                "number_sid": current.sid,
                "previous": self._previous(current, voice),
            },
        )

    def _previous(self, current: IncomingNumber, voice: str) -> dict[str, str]:
        """The webhooks to restore on delete; none when they already point here (imported
        again after a failed delete)."""
        if current.voice_url == voice:
            return {}
        return {
            "voice_url": current.voice_url or "",
            "voice_method": current.voice_method or "POST",
            "status_callback": current.status_callback or "",
            "status_callback_method": current.status_callback_method or "POST",
        }

    @staticmethod
    async def _undo(operation: Awaitable[object]) -> None:
        try:
            await operation
        except TwilioRestError as exc:
            if exc.status == 404:
                return
            field = "twilio_auth_token" if exc.status in (401, 403) else "number"
            raise ProvisioningError(str(exc), field=field, carrier_code=exc.code) from exc


def _failed(exc: TwilioRestError, field: str) -> ProvisioningError:
    return ProvisioningError(str(exc), field=field, carrier_code=exc.code)


def _customer_error(exc: TwilioRestError) -> Invalid | ProvisioningError:
    """Bad credentials are the request's fault (422 naming the token); the rest Twilio's."""
    if exc.status in (401, 403, 404):
        return invalid(
            "twilio_auth_token",
            f"Twilio did not accept these credentials (HTTP {exc.status}, code {exc.code}: "
            f"{exc.message})",
        )
    return _failed(exc, "number")
