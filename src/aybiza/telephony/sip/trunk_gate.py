"""Who may call a number over SIP (before anything is recorded).

An INVITE names the dialled number in its Request-URI. The number must be a ``sip_trunk``
number whose trunk lets the caller in: the source address is in the trunk's
``allowed_cidrs``, or the request answers our digest challenge (RFC 8760: SHA-256, and MD5
for old PBXs, in the order of the trunk's ``auth.algorithms``) with the trunk's credentials.
The demo tenant's number also answers SIP from loopback, so a newcomer can dial the demo agent
with any softphone. A number nobody registered is 404 and a caller the trunk does not let in is
403: neither is recorded, so a SIP scanner cannot fill the call table.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.store.calls import number_by_e164
from aybiza.store.database import Database
from aybiza.store.models import PhoneNumber
from aybiza.telephony.sip.digest import Challenge, Credentials, NonceIssuer, verify
from aybiza.telephony.sip.message import Request
from aybiza.telephony.sip.syntax import SipParseError
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.uri import SipUri, TelUri, Uri

# Offered in this order unless the trunk's ``auth.algorithms`` says otherwise; RFC 8760 §2.4: a
# UAC answers the first it supports (an old one may read only the first challenge).
CHALLENGE_ALGORITHMS = ("SHA-256", "MD5")
_SEPARATORS = str.maketrans("", "", "-.() ")


@dataclass(frozen=True, slots=True)
class Allowed:
    """The caller may reach ``number``."""

    number: PhoneNumber


@dataclass(frozen=True, slots=True)
class Denied:
    """The INVITE is answered ``status`` with ``reason`` (and a challenge, for 401)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def dialled_number(request: Request) -> str | None:
    """The E.164 number an INVITE is for: the Request-URI's user part (or a tel: URI), else
    the To header's (a registrar may put the account in the Request-URI); visual separators
    removed, a leading ``+`` added to bare digits; None when neither names one."""
    return number_in(request.uri) or number_in(request.to.uri)


def number_in(uri: Uri) -> str | None:
    """The E.164 number a SIP or tel URI's user part names, or None."""
    if isinstance(uri, TelUri):
        user: str | None = uri.number
    elif isinstance(uri, SipUri):
        user = uri.user
    else:
        user = None
    if not user:
        return None
    digits = user.translate(_SEPARATORS)
    digits = digits[1:] if digits.startswith("+") else digits
    if not digits.isdigit() or not 7 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return "+" + digits


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def source_allowed(number: PhoneNumber, host: str) -> bool:
    """Whether ``host`` is in the trunk's allowed networks."""
    networks = (number.sip or {}).get("allowed_cidrs") or []
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in networks)


class TrunkGate:
    """Decides, per INVITE, whether the caller may reach the dialled number."""

    def __init__(
        self,
        database: Database,
        password_of: Callable[[PhoneNumber], str | None],
        nonces: NonceIssuer,
        *,
        realm: str,
    ) -> None:
        self._database = database
        self._password_of = password_of
        self._nonces = nonces
        self.realm = realm

    async def check(self, request: Request, peer: Peer) -> Allowed | Denied:
        e164 = dialled_number(request)
        if e164 is None:
            return Denied(404, "Not Found (no E.164 number in the Request-URI)")
        async with self._database.session() as session:
            number = await number_by_e164(session, e164)
        if number is None:
            return Denied(404, "Not Found")
        if number.type != "sip_trunk":
            if number.e164 == DEMO_PHONE_NUMBER and _is_loopback(peer.host):
                return Allowed(number)
            return Denied(403, "Forbidden (the number is not on a SIP trunk)")
        if source_allowed(number, peer.host):
            return Allowed(number)
        auth = (number.sip or {}).get("auth")
        if not auth:
            return Denied(403, "Forbidden (source address not in the trunk's allowed_cidrs)")
        algorithms = tuple(auth.get("algorithms") or CHALLENGE_ALGORITHMS)
        return self._digest(request, number, str(auth.get("username", "")), algorithms)

    def _digest(
        self, request: Request, number: PhoneNumber, username: str, algorithms: tuple[str, ...]
    ) -> Allowed | Denied:
        value = request.headers.get("Authorization")
        if value is None:
            return self.challenge(algorithms)
        try:
            credentials = Credentials.parse(value)
        except SipParseError:
            return Denied(400, "Bad Request (malformed Authorization)")
        if credentials.realm != self.realm or credentials.username != username:
            return Denied(403, "Forbidden (wrong realm or username)")
        if credentials.algorithm.upper() not in (a.upper() for a in algorithms):
            return Denied(403, f"Forbidden (the trunk does not take {credentials.algorithm[:20]})")
        status = self._nonces.check(credentials.nonce, credentials.nc)
        if status == "stale":
            return self.challenge(algorithms, stale=True)
        password = self._password_of(number)
        if status != "valid" or password is None:
            return Denied(403, "Forbidden (bad credentials)")
        if not verify(credentials, method=request.method, password=password, body=request.body):
            return Denied(403, "Forbidden (bad credentials)")
        return Allowed(number)

    def challenge(
        self, algorithms: tuple[str, ...] = CHALLENGE_ALGORITHMS, *, stale: bool = False
    ) -> Denied:
        """A 401 offering ``algorithms`` in that order, with ``qop=auth``."""
        nonce = self._nonces.issue()
        headers = tuple(
            (
                "WWW-Authenticate",
                str(Challenge(self.realm, nonce, algorithm, ("auth",), None, stale)),
            )
            for algorithm in algorithms
        )
        return Denied(401, "Unauthorized", headers)
