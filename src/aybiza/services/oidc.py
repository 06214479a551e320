"""Single sign-on through OpenID Connect: the authorization code flow with PKCE.

``start`` sends the browser to the provider's authorization endpoint with a fresh ``state``,
``nonce`` and PKCE challenge, kept sealed in a short-lived cookie; ``finish`` checks the
returned ``state``, exchanges the code (with the PKCE verifier and the client's secret, if it
has one) at the token endpoint, and checks the ID token with the provider's keys. The person
is found by the identity bound at their first single sign-on, else by a verified email address
that a member of some tenant already has: single sign-on admits people, it never creates them.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from aybiza.config import AccessSettings
from aybiza.errors import NotFound, ServiceError, Unauthenticated, invalid
from aybiza.security.oidc_tokens import IdTokenError, new_pkce, verify_id_token
from aybiza.security.secretbox import SecretBox, SecretBoxError
from aybiza.store.database import Database
from aybiza.store.people_models import User

LOGIN_TTL_S = 600
_DISCOVERY_TTL_S = 3600.0


class SingleSignOnError(ServiceError):
    """The provider failed or refused (502)."""

    code = "sso_failed"


@dataclass(frozen=True, slots=True)
class SsoStart:
    """Where to send the browser, and the sealed cookie that remembers this attempt."""

    authorize_url: str
    cookie: str


@dataclass(frozen=True, slots=True)
class SsoPerson:
    """Who signed in, and what they asked for at the start."""

    user_id: str
    tenant: str | None
    next_path: str


class SingleSignOn:
    """The relying party for the provider in ``settings`` (``AYBIZA_OIDC_*``)."""

    def __init__(
        self,
        database: Database,
        settings: AccessSettings,
        box: SecretBox,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id, "single sign-on is configured"
        self._database = database
        self._issuer = settings.oidc_issuer.rstrip("/")
        self._client_id = settings.oidc_client_id
        self._client_secret = settings.oidc_client_secret
        self._scopes = settings.oidc_scopes
        self._box = box
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._jwks: dict[str, Any] | None = None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def start(self, redirect_uri: str, *, next_path: str, tenant: str | None) -> SsoStart:
        """The provider's authorization URL for a new attempt."""
        provider = await self._provider()
        pkce, state, nonce = new_pkce(), secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        remembered = {
            "state": state,
            "nonce": nonce,
            "verifier": pkce.verifier,
            "next": next_path,
            "tenant": tenant,
            "redirect_uri": redirect_uri,
            "expires": int(time.time()) + LOGIN_TTL_S,
        }
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": redirect_uri,
                "scope": self._scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce.challenge,
                "code_challenge_method": "S256",
            }
        )
        endpoint = str(provider["authorization_endpoint"])
        separator = "&" if "?" in endpoint else "?"
        return SsoStart(endpoint + separator + query, self._box.seal(json.dumps(remembered)))

    async def finish(self, cookie: str | None, *, code: str, state: str) -> SsoPerson:
        """The person the provider vouches for, after every check."""
        remembered = self._remembered(cookie)
        if not secrets.compare_digest(str(remembered["state"]), state):
            raise Unauthenticated("the sign-in's state does not match; start again", field="state")
        provider = await self._provider()
        tokens = await self._exchange(provider, code, remembered)
        claims = await self._claims(provider, str(tokens.get("id_token", "")), remembered)
        user_id = await self._person(claims)
        tenant = remembered.get("tenant")
        return SsoPerson(user_id, str(tenant) if tenant else None, str(remembered["next"]))

    def _remembered(self, cookie: str | None) -> dict[str, Any]:
        if not cookie:
            raise Unauthenticated("no single sign-on under way: start again", field="state")
        try:
            remembered: dict[str, Any] = json.loads(self._box.open(cookie))
        except (SecretBoxError, ValueError) as exc:
            raise Unauthenticated("the sign-in cookie is not ours", field="state") from exc
        if int(remembered.get("expires", 0)) < time.time():
            raise Unauthenticated("the sign-in took too long: start again", field="state")
        return remembered

    async def _provider(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._discovery is not None and self._discovery[0] > now:
            return self._discovery[1]
        document = await self._get_json(f"{self._issuer}/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != self._issuer:
            raise SingleSignOnError(
                f"the provider calls itself {document.get('issuer')!r}, not {self._issuer!r}"
            )
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(field), str):
                raise SingleSignOnError(f"the provider's discovery document lacks {field}")
        self._discovery = (now + _DISCOVERY_TTL_S, document)
        return document

    async def _exchange(
        self, provider: dict[str, Any], code: str, remembered: dict[str, Any]
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": str(remembered["redirect_uri"]),
            "code_verifier": str(remembered["verifier"]),
            "client_id": self._client_id,
        }
        auth: httpx.BasicAuth | None = None
        methods = provider.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if self._client_secret:
            if "client_secret_basic" in methods:
                auth = httpx.BasicAuth(self._client_id, self._client_secret)
            else:
                form["client_secret"] = self._client_secret
        try:
            response = await self._http.post(
                str(provider["token_endpoint"]),
                data=form,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise SingleSignOnError(f"the provider's token endpoint failed: {exc}") from exc
        if response.status_code != 200:
            raise Unauthenticated(
                f"the provider refused the code ({response.status_code}: {response.text[:200]})",
                field="code",
            )
        tokens = _json_object(response)
        if tokens is None or not isinstance(tokens.get("id_token"), str):
            raise SingleSignOnError("the provider's token response has no id_token")
        return tokens

    async def _claims(
        self, provider: dict[str, Any], id_token: str, remembered: dict[str, Any]
    ) -> dict[str, Any]:
        algorithms = provider.get("id_token_signing_alg_values_supported") or ["RS256"]
        for attempt in range(2):
            if self._jwks is None or attempt:
                self._jwks = await self._get_json(str(provider["jwks_uri"]))
            try:
                return verify_id_token(
                    id_token,
                    self._jwks,
                    issuer=str(provider["issuer"]),
                    client_id=self._client_id,
                    nonce=str(remembered["nonce"]),
                    algorithms=algorithms,
                )
            except IdTokenError as exc:
                # A key the cached set lacks: the provider rotated; fetch its keys once more.
                if attempt or "no key" not in str(exc):
                    raise Unauthenticated(str(exc), field="id_token") from exc
        raise AssertionError("unreachable: the loop returns or raises")

    async def _person(self, claims: dict[str, Any]) -> str:
        subject = f"{claims['iss']} {claims['sub']}"[:600]
        email = str(claims.get("email", "")).strip().lower()
        async with self._database.writing() as session:
            found = await session.execute(select(User).where(User.oidc_subject == subject))
            user = found.scalars().first()
            if user is None and email and claims.get("email_verified") is True:
                by_email = await session.execute(select(User).where(User.email == email))
                user = by_email.scalars().first()
                if user is not None and user.oidc_subject is None:
                    user.oidc_subject = subject
                elif user is not None:
                    user = None
            if user is None:
                raise NotFound(
                    "nobody here signs in with this identity: ask an admin to invite "
                    f"{email or 'you'}",
                    field="email",
                )
            return user.id

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SingleSignOnError(f"the provider did not answer {url}: {exc}") from exc
        document = _json_object(response) if response.status_code == 200 else None
        if document is None:
            raise SingleSignOnError(f"{url} answered {response.status_code}, not a JSON object")
        return document


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        value = response.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path on this site only (never another site)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    if any(ord(ch) < 0x20 for ch in path) or len(path) > 500:
        raise invalid("next", "a path on this site", path)
    return path
