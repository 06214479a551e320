"""A UAS's first look at a well-formed request (RFC 3261 §8.2.1-§8.2.3), before any dialog.

``inspect_request`` answers "can this user agent take this request at all?": the method, the
Request-URI scheme, required extensions, the body's type and what the caller accepts back. It is
pure: it returns the refusal (status, reason and the header fields RFC 3261 asks for), or None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.uri import AbsoluteUri

# Methods of RFC 3261 and the extensions in common use; a method outside these is unknown (501),
# one of these that the UA does not take is not allowed (405).
KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)


@dataclass(frozen=True, slots=True)
class UasCapabilities:
    """What this user agent takes: methods, option tags (``Require``) and body types."""

    methods: tuple[str, ...] = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "NOTIFY")
    extensions: tuple[str, ...] = ("timer", "replaces")
    body_types: tuple[str, ...] = ("application/sdp", "application/dtmf-relay", "message/sipfrag")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A final response a UAS sends instead of processing the request."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def response_to(self, request: Request, to_tag: str | None = None) -> Response:
        """The response to send; ``to_tag`` is the tag a UAS adds to a new request's To."""
        return request.response(self.status, self.reason, to_tag=to_tag, headers=self.headers)


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _accepts(accept: list[str], media_type: str) -> bool:
    kind = media_type.split("/", 1)[0]
    wanted = {_media_type(item) for item in accept}
    return bool(wanted & {media_type, f"{kind}/*", "*/*"})


def inspect_request(request: Request, capabilities: UasCapabilities) -> Refusal | None:
    """The refusal RFC 3261 §8.2 calls for, or None when the request may be processed."""
    method = request.method
    allow = (("Allow", ", ".join(capabilities.methods)),)
    if method not in capabilities.methods and method not in ("ACK", "CANCEL"):
        if method in KNOWN_METHODS:
            return Refusal(405, "Method Not Allowed", allow)
        return Refusal(501, "Not Implemented", allow)
    if isinstance(request.uri, AbsoluteUri):
        return Refusal(416, "Unsupported URI Scheme")
    if method not in ("ACK", "CANCEL"):
        unsupported = [
            tag
            for tag in request.headers.get_list("Require")
            if tag.lower() not in capabilities.extensions
        ]
        if unsupported:
            return Refusal(420, "Bad Extension", (("Unsupported", ", ".join(unsupported)),))
    content_type = request.content_type
    if request.body and _media_type(content_type or "") not in capabilities.body_types:
        accept = (("Accept", ", ".join(capabilities.body_types)),)
        return Refusal(415, "Unsupported Media Type", accept)
    accept_values = request.headers.get_list("Accept")
    if method == "INVITE" and accept_values and not _accepts(accept_values, "application/sdp"):
        # Our answer must carry SDP; a caller that accepts no SDP cannot get one (RFC 4475
        # §3.3.15: 406, or 400 since every UA that takes INVITE must take SDP).
        return Refusal(406, "Not Acceptable")
    return None
