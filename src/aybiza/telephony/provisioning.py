"""The carrier side of a phone number, behind ``NumberProvisioner``.

``NumberService`` calls ``provision`` before storing a new number (outside any database
transaction, since a carrier call is slow) and ``release`` before deleting one.
``RegisteredOnly`` records numbers without touching a carrier; ``TwilioProvisioner``
(``aybiza.telephony.twilio.provisioning``) buys ``managed`` numbers and points imported ``twilio``
numbers at the platform, keeping what it needs to undo that in ``provider_data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aybiza.store.models import PhoneNumber

# The platform did not touch the carrier: the owner points the number (or trunk) at
# ``/twilio/voice`` themselves.
EXTERNAL = "external"
# Bought on the platform's Twilio account (released on delete).
BOUGHT = "bought"
# The customer's own Twilio number pointed here (its previous webhooks restored on delete).
IMPORTED = "imported"


@dataclass(frozen=True, slots=True)
class NumberRequest:
    """A number about to be registered. ``e164`` is None when a ``managed`` number is to be
    found by ``area_code`` in ``country``; ``twilio_*`` are the customer's credentials of an
    imported number."""

    tenant_id: str
    e164: str | None
    type: str
    region: str
    sip: dict[str, Any] | None = None
    area_code: str | None = None
    country: str = "US"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What the carrier did: a status shown as ``provisioning``, data kept for ``release`` and
    the number itself when the carrier chose it."""

    status: str
    provider_data: dict[str, Any] = field(default_factory=dict)
    e164: str | None = None


class ProvisioningError(Exception):
    """The carrier refused or failed; the message says why (shown to the API caller), with the
    request ``field`` it concerns and the carrier's error code if it gave one."""

    def __init__(
        self, message: str, *, field: str = "number", carrier_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.carrier_code = carrier_code


class NumberProvisioner(Protocol):
    """Acquires and releases numbers at the carrier."""

    async def provision(self, request: NumberRequest) -> Provisioned:
        """Make the number reach this platform; raise ProvisioningError when it cannot."""

    async def release(self, number: PhoneNumber) -> None:
        """Undo ``provision`` (release a bought number, restore an imported one's voice URL)."""


class RegisteredOnly:
    """Records numbers without contacting any carrier (``provisioning: "external"``)."""

    async def provision(self, request: NumberRequest) -> Provisioned:
        """Nothing to do at the carrier."""
        return Provisioned(status=EXTERNAL)

    async def release(self, number: PhoneNumber) -> None:
        """Nothing to undo."""
