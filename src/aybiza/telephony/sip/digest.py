"""HTTP Digest authentication for SIP (RFC 3261 §22.4 on RFC 2617; RFC 7616's algorithms as
RFC 8760 brings them to SIP: SHA-512/256, SHA-256 and MD5, each with its ``-sess`` variant).

The UAC side reads a ``WWW-Authenticate``/``Proxy-Authenticate`` challenge and computes the
``Authorization`` for a request (``authorize``). The UAS side issues nonces that need no server
state (``NonceIssuer``: a timestamp signed with a secret), and checks an ``Authorization`` against
the stored password (``verify``), refusing a replayed nonce count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from aybiza.telephony.sip.syntax import (
    WHITESPACE,
    SipParseError,
    is_token,
    quote,
    read_quoted,
    show,
    split_outside_quotes,
)

_HASHES: dict[str, str] = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
# RFC 8760 §2.4: with several challenges, use the strongest algorithm understood.
PREFERENCE = ("SHA-512-256", "SHA-256", "MD5")


def _hash(algorithm: str, text: str) -> str:
    base = algorithm.upper().removesuffix("-SESS")
    name = _HASHES.get(base)
    if name is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(name, text.encode("utf-8")).hexdigest()


def supported(algorithm: str) -> bool:
    """Whether this side can compute ``algorithm`` (case-insensitive, ``-sess`` allowed)."""
    return algorithm.upper().removesuffix("-SESS") in _HASHES


def parse_auth_params(value: str, field: str) -> dict[str, str]:
    """``Digest name=value, name="quoted, value"`` into lower-case names and unquoted values;
    the scheme must be Digest."""
    scheme, _, rest = value.strip(WHITESPACE).partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError(f"{field}: scheme {show(scheme)} is not Digest")
    params: dict[str, str] = {}
    for item in split_outside_quotes(rest, ",", field):
        name, equals, raw = item.strip(WHITESPACE).partition("=")
        name = name.strip(WHITESPACE).lower()
        if not equals or not is_token(name):
            raise SipParseError(f"{field}: {show(item)} is not name=value")
        raw = raw.strip(WHITESPACE)
        if raw.startswith('"'):
            text, end = read_quoted(raw, 0, field)
            if raw[end:].strip(WHITESPACE):
                raise SipParseError(f"{field}: text after the quoted value of {name}")
            params[name] = text
        else:
            params[name] = raw
    return params


def _required(params: dict[str, str], name: str, field: str) -> str:
    value = params.get(name)
    if not value:
        raise SipParseError(f"{field}: missing {name}")
    return value


@dataclass(frozen=True, slots=True)
class Challenge:
    """A Digest challenge from a 401 (``WWW-Authenticate``) or 407 (``Proxy-Authenticate``)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}"]
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)

    @classmethod
    def parse(cls, value: str, field: str = "WWW-Authenticate") -> Challenge:
        params = parse_auth_params(value, field)
        qop = tuple(q.strip(WHITESPACE) for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=_required(params, "realm", field),
            nonce=_required(params, "nonce", field),
            algorithm=params.get("algorithm", "MD5"),
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """A Digest ``Authorization``/``Proxy-Authorization`` value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    def __str__(self) -> str:
        parts = [
            f"username={quote(self.username)}",
            f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}",
            f"uri={quote(self.uri)}",
            f"response={quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.qop is not None:
            parts += [f"qop={self.qop}", f"nc={self.nc}", f"cnonce={quote(self.cnonce or '')}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        return "Digest " + ", ".join(parts)

    @classmethod
    def parse(cls, value: str, field: str = "Authorization") -> Credentials:
        params = parse_auth_params(value, field)
        qop = params.get("qop")
        if qop is not None and (not params.get("nc") or not params.get("cnonce")):
            raise SipParseError(f"{field}: qop={qop} needs nc and cnonce")
        return cls(
            username=_required(params, "username", field),
            realm=params.get("realm", ""),
            nonce=_required(params, "nonce", field),
            uri=_required(params, "uri", field),
            response=_required(params, "response", field),
            algorithm=params.get("algorithm", "MD5"),
            qop=qop,
            nc=params.get("nc"),
            cnonce=params.get("cnonce"),
            opaque=params.get("opaque"),
        )


def digest_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(username:realm:password): what a server may store instead of the password."""
    return _hash(algorithm, f"{username}:{realm}:{password}")


def compute_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1-§3.4.3; without qop, RFC 2069's form)."""
    if algorithm.upper().endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce or ''}")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + hashlib.new(_HASHES[algorithm.upper().removesuffix("-SESS")], body).hexdigest()
    ha2 = _hash(algorithm, a2)
    if qop is None:
        return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def choose_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The challenge to answer: the strongest supported algorithm (RFC 8760 §2.4)."""
    usable = [c for c in challenges if supported(c.algorithm)]
    rank = {name: index for index, name in enumerate(PREFERENCE)}
    usable.sort(key=lambda c: rank[c.algorithm.upper().removesuffix("-SESS")])
    return usable[0] if usable else None


def authorize(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
    body: bytes = b"",
) -> Credentials:
    """The Authorization answering ``challenge`` for a request (UAC side). ``qop=auth`` is
    used when offered (``auth-int`` when it is the only one offered)."""
    qop: str | None = None
    if "auth" in challenge.qop:
        qop = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    count = f"{nc:08x}" if qop else None
    client_nonce = (cnonce or secrets.token_hex(8)) if qop else None
    response = compute_response(
        algorithm=challenge.algorithm,
        ha1=digest_ha1(username, challenge.realm, password, challenge.algorithm),
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=count,
        cnonce=client_nonce,
        body=body,
    )
    return Credentials(
        username, challenge.realm, challenge.nonce, uri, response, challenge.algorithm,
        qop, count, client_nonce, challenge.opaque,
    )  # fmt: skip


def verify(credentials: Credentials, *, method: str, password: str, body: bytes = b"") -> bool:
    """Whether ``credentials`` were computed with ``password`` for this method (UAS side)."""
    if not supported(credentials.algorithm):
        return False
    ha1 = digest_ha1(credentials.username, credentials.realm, password, credentials.algorithm)
    expected = compute_response(
        algorithm=credentials.algorithm,
        ha1=ha1,
        nonce=credentials.nonce,
        method=method,
        uri=credentials.uri,
        qop=credentials.qop,
        nc=credentials.nc,
        cnonce=credentials.cnonce,
        body=body,
    )
    return hmac.compare_digest(expected, credentials.response.lower())


NonceStatus = Literal["valid", "stale", "invalid", "replayed"]


class NonceIssuer:
    """Nonces a UAS can check without remembering them: ``time.hmac``, valid ``lifetime``
    seconds; nonce counts (``nc``) must grow per nonce, so a captured request cannot replay."""

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime: float = 300.0,
        clock: Callable[[], float] = time.time,
        remembered: int = 10_000,
    ) -> None:
        self._secret = secret
        self._lifetime = lifetime
        self._clock = clock
        self._remembered = remembered
        self._counts: OrderedDict[str, int] = OrderedDict()

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> str:
        stamp = f"{int(self._clock()):x}"
        return f"{stamp}.{self._sign(stamp)}"

    def check(self, nonce: str, nc: str | None = None) -> NonceStatus:
        """Whether ``nonce`` is ours and fresh, and ``nc`` (hex) above the last one seen."""
        stamp, _, signature = nonce.partition(".")
        if not stamp or not hmac.compare_digest(signature, self._sign(stamp)):
            return "invalid"
        try:
            issued = int(stamp, 16)
        except ValueError:
            return "invalid"
        if self._clock() - issued > self._lifetime:
            return "stale"
        if nc is None:
            return "valid"
        try:
            count = int(nc, 16)
        except ValueError:
            return "invalid"
        if count <= self._counts.get(nonce, 0):
            return "replayed"
        self._counts[nonce] = count
        self._counts.move_to_end(nonce)
        while len(self._counts) > self._remembered:
            self._counts.popitem(last=False)
        return "valid"
