"""Errors services raise for a caller to act on; the API turns each into an HTTP status.

Each names the offending field (a JSON path such as ``sip.gateways.0``) where there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from aybiza.agents.errors import FieldError


class ServiceError(Exception):
    """Base class: a stable machine ``code``, a human ``message`` and the ``field`` at fault."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class NotFound(ServiceError):
    """No such object for this tenant (also what another tenant's object looks like)."""

    code = "not_found"


class Forbidden(ServiceError):
    """The caller may use the operation but not on this object (a key revoking a key that
    holds scopes it lacks)."""

    code = "forbidden"


class Unauthenticated(ServiceError):
    """Who the caller is could not be established (a wrong password, an expired session)."""

    code = "unauthorized"


class Locked(ServiceError):
    """Too many failed attempts: refused without looking until ``retry_after_s`` has passed."""

    code = "locked"

    def __init__(self, message: str, *, retry_after_s: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class Conflict(ServiceError):
    """The request is valid but clashes with the current state (a number already taken, an
    agent still routed to by a number)."""

    code = "conflict"


class CarrierError(ServiceError):
    """The carrier refused or failed a request the platform made for the tenant;
    ``carrier_code`` is the carrier's own error code when it answered one."""

    code = "carrier_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        carrier: str = "twilio",
        carrier_code: int | None = None,
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.carrier = carrier
        self.carrier_code = carrier_code


class Unavailable(ServiceError):
    """The platform cannot serve this now (the server is draining): retry, elsewhere or later."""

    code = "unavailable"


class Invalid(ServiceError):
    """The request is malformed; ``errors`` lists every bad field."""

    code = "invalid_request"

    def __init__(self, errors: Sequence[FieldError], *, code: str | None = None) -> None:
        self.errors = list(errors)
        first = self.errors[0] if self.errors else FieldError("", "invalid request")
        message = first.message if len(self.errors) == 1 else f"{len(self.errors)} invalid fields"
        where = f"{first.path}: " if first.path else ""
        super().__init__(f"{where}{message}", field=first.path or None, code=code)


def invalid(field: str, message: str, received: object | None = None) -> Invalid:
    """A single-field ``Invalid``."""
    return Invalid([FieldError(field, message, received)])
