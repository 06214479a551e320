"""``X-Twilio-Signature`` checks for webhooks and the Media Streams WebSocket upgrade."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator


def public_url(
    *, configured: str | None, scheme: str, host: str, path: str, query: str, websocket: bool
) -> str:
    """The URL Twilio requested, as it signed it.

    With ``AYBIZA_PUBLIC_URL`` set (a proxy or tunnel in front), its scheme and host are used;
    otherwise the request's own. WebSocket URLs are signed with ``wss``/``ws``.
    """
    if configured:
        base = urlsplit(configured)
        scheme, host = base.scheme, base.netloc
    if websocket:
        scheme = {"https": "wss", "http": "ws"}.get(scheme, scheme)
    return urlunsplit((scheme, host, path, query, ""))


def valid_signature(auth_token: str, url: str, params: Mapping[str, Any], signature: str) -> bool:
    """Twilio's own validator: tries the URL with and without the default port. ``params`` is a
    plain dict or a multi-dict with ``getlist`` (repeated form keys all count)."""
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def websocket_signature_valid(auth_token: str, url: str, signature: str) -> bool:
    """The upgrade is signed over ``wss://host/path``; query pairs count as parameters (as in
    Twilio's own agent-connect server)."""
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    validator = RequestValidator(auth_token)
    return bool(
        validator.validate(bare, params, signature) or validator.validate(url, {}, signature)
    )
