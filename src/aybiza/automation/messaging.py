"""What tools need to send a text message, whichever carrier sends it.

The automation engine is handed a ``Messaging`` (the Twilio carrier implements it) and never
imports a carrier: a lower layer acting on a higher one gets a small protocol object.
"""

from __future__ import annotations

from typing import Any, Protocol

from aybiza.store.models import PhoneNumber


class SmsError(Exception):
    """The message was not accepted; the message says why (it goes back to the model)."""


class SmsSender(Protocol):
    """Sends text messages from one account."""

    async def send(self, *, to: str, from_: str, body: str) -> dict[str, Any]:
        """Send the message; returns the carrier's ``sid`` and ``status`` (plus ``to`` and
        ``from``). Raises ``SmsError``."""
        ...


class Messaging(Protocol):
    """Finds the account that sends messages for a number."""

    def sender_for(self, number: PhoneNumber | None) -> SmsSender | None:
        """The sender for messages from ``number`` (None: nothing is configured)."""
        ...
