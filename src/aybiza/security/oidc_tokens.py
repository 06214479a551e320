"""OpenID Connect pieces that need no network: PKCE (RFC 7636, S256) and checking an ID token
(OpenID Connect Core 3.1.3.7) against the provider's JSON Web Key Set with PyJWT.

Only asymmetric signatures are accepted (never ``none`` or an HMAC keyed by something the
provider could share), and only the algorithms the provider announces.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"})
CLOCK_SKEW_S = 60


class IdTokenError(Exception):
    """The ID token is not acceptable; the message says why."""


@dataclass(frozen=True, slots=True)
class Pkce:
    """A PKCE verifier and its S256 challenge."""

    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    """A fresh verifier (43 characters of base64url, 256 bits) and its challenge."""
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("="))


def verify_id_token(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: Iterable[str] = ("RS256",),
) -> dict[str, Any]:
    """The token's claims once its signature, issuer, audience, times and nonce check out."""
    allowed = sorted(set(algorithms) & ASYMMETRIC) or ["RS256"]
    try:
        header = jwt.get_unverified_header(token)
        key_set = jwt.PyJWKSet.from_dict(dict(jwks))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise IdTokenError(f"unreadable ID token or key set: {exc}") from exc
    algorithm = header.get("alg")
    if algorithm not in allowed:
        raise IdTokenError(f"ID token signed with {algorithm!r}; accepted: {', '.join(allowed)}")
    kid = header.get("kid")
    keys = [key for key in key_set.keys if kid is None or key.key_id == kid]
    if not keys:
        raise IdTokenError(f"no key {kid!r} in the provider's key set")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=keys[0],
            algorithms=[algorithm],
            audience=client_id,
            issuer=issuer,
            leeway=CLOCK_SKEW_S,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise IdTokenError(f"ID token refused: {exc}") from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise IdTokenError("ID token for several audiences without azp naming this client")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise IdTokenError("ID token nonce does not match this sign-in")
    return claims
