"""``TwilioCarrier``: places calls and ends calls through Twilio's REST API.

An outbound call is placed with ``Url={public}/twilio/voice?call_id=...``: when the callee
answers, Twilio fetches that URL and the call is connected to its agent exactly like an incoming
call. Status callbacks go to ``{public}/twilio/status?call_id=...`` with all four events. With
``AYBIZA_REGION`` set both paths start with ``/regions/<region>``: the call lives in this region.
"""

from __future__ import annotations

from typing import Literal

from aybiza.store.models import PhoneNumber
from aybiza.telephony.carrier import CarrierName, CarrierRefused, Dial
from aybiza.telephony.twilio.accounts import STATUS_PATH, VOICE_PATH, TwilioAccounts
from aybiza.telephony.twilio.amd import AMD_PATH, MACHINE_DETECTION, amd_tuning
from aybiza.telephony.twilio.rest import TwilioRestError

# Twilio error codes about the number called, and about the number called from.
_TO_CODES = (21211, 21214, 21215, 21216, 21217, 21401)
_FROM_CODES = (21210, 21212, 21213)
# What Twilio answers an update of a call that has ended (``status`` is then final).
_FINAL = ("completed", "busy", "no-answer", "failed", "canceled")


class TwilioCarrier:
    """The ``Carrier`` of ``managed`` and ``twilio`` numbers."""

    name: CarrierName = "twilio"

    def __init__(self, accounts: TwilioAccounts) -> None:
        self._accounts = accounts

    def carries(self, number: PhoneNumber) -> bool:
        return number.type in ("managed", "twilio")

    def origin_problem(self, number: PhoneNumber) -> str | None:
        if self._accounts.for_number(number) is None:
            return (
                "no Twilio account can place calls from this number: import it with "
                "twilio_account_sid and twilio_auth_token, or configure the platform's "
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        return None

    async def place(self, dial: Dial) -> str:
        """Ask Twilio to place the call; returns its CallSid. Raises ``CarrierRefused``
        (and ``Invalid`` naming ``dial.field`` without a public URL)."""
        voice = self._accounts.url(VOICE_PATH, dial.field, pinned=True, call_id=dial.call_id)
        status = self._accounts.url(STATUS_PATH, dial.field, pinned=True, call_id=dial.call_id)
        credentials = self._accounts.for_number(dial.number)
        if credentials is None:
            raise CarrierRefused(self.origin_problem(dial.number) or "", field="from")
        amd = (
            self._accounts.url(AMD_PATH, dial.field, pinned=True, call_id=dial.call_id)
            if dial.machine_detection
            else None
        )
        try:
            placed = await self._accounts.rest.create_call(
                credentials,
                to=dial.to,
                from_=dial.number.e164,
                url=voice,
                status_callback=status,
                machine_detection=(
                    MACHINE_DETECTION[dial.machine_detection] if dial.machine_detection else None
                ),
                amd_status_callback=amd,
                amd_tuning=amd_tuning(dial.machine_detection_tuning),
            )
        except TwilioRestError as exc:
            field: Literal["to", "from"] | None = None
            if exc.code in _TO_CODES:
                field = "to"
            elif exc.code in _FROM_CODES:
                field = "from"
            raise CarrierRefused(str(exc), field=field, carrier_code=exc.code) from exc
        return placed.sid

    async def hang_up(self, number: PhoneNumber, carrier_call_id: str, *, ringing: bool) -> bool:
        credentials = self._accounts.for_number(number)
        if credentials is None:
            return False
        rest = self._accounts.rest
        try:
            # ``canceled`` stops a call still ringing; an answered one needs ``completed``.
            result = await rest.update_call(
                credentials, carrier_call_id, status="canceled" if ringing else "completed"
            )
            if result.status not in _FINAL:
                await rest.update_call(credentials, carrier_call_id, status="completed")
        except TwilioRestError as exc:
            raise CarrierRefused(str(exc), carrier_code=exc.code, gone=exc.status == 404) from exc
        return True
