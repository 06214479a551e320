"""The carrier side of a phone number, behind ``NumberProvisioner``.

``NumberService`` calls ``provision`` before storing a new number (outside any database
transaction, since a carrier call is slow) and ``release`` before deleting one. A provisioner
for Twilio (buy a ``managed`` number and point its voice URL here; for ``twilio`` numbers point
the customer's number here and keep its old URL in ``provider_data`` to restore it) plugs in
here without changing the service or the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aybiza.store.models import PhoneNumber

# The platform did not touch the carrier: the owner points the number (or trunk) at
# ``/twilio/voice`` themselves.
EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class NumberRequest:
    """A number about to be registered."""

    tenant_id: str
    e164: str
    type: str
    region: str
    sip: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What the carrier did: a status shown as ``provisioning`` and data kept for ``release``."""

    status: str
    provider_data: dict[str, Any] = field(default_factory=dict)


class ProvisioningError(Exception):
    """The carrier refused or failed; the message says why (shown to the API caller)."""


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
