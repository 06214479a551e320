"""A SIP dialog (RFC 3261 §12): the state two user agents share for the length of a call.

Created from an INVITE and the response that carries both tags, on either side; it builds the
requests sent inside the call (BYE, re-INVITE, REFER, INFO, and the ACK for a 2xx) with the right
tags, CSeq, Request-URI and Route set (loose or strict routing, §12.2.1.1), and it checks the
requests the other side sends (CSeq order, target refresh). Pure: no I/O, no timers.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from aybiza.telephony.sip.headers import CSeq, NameAddr, Via
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.uri import SipUri, Uri

# Requests that may change the remote target (RFC 3261 §12.2, RFC 3311).
_TARGET_REFRESH = ("INVITE", "UPDATE")


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogError(ValueError):
    """A message that cannot create or continue this dialog; the text says why."""


@dataclass(slots=True)
class Dialog:
    """One side's view of a dialog: ``local`` is this user agent, ``remote`` the peer."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    local_target: NameAddr
    remote_target: Uri
    route_set: list[NameAddr] = field(default_factory=list)
    local_cseq: int = 0
    remote_cseq: int | None = None
    secure: bool = False
    state: DialogState = DialogState.CONFIRMED

    @property
    def id(self) -> Hashable:
        """Call-ID, local tag and remote tag (RFC 3261 §12)."""
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(cls, invite: Request, response: Response) -> Dialog:
        """The callee's dialog, from the INVITE received and the 1xx/2xx sent (§12.1.1)."""
        local_tag, remote_tag = response.to.tag, invite.from_.tag
        if not local_tag or not invite.contact:
            raise DialogError("a dialog needs a To tag on the response and a Contact on the INVITE")
        local_contact = response.contact[0] if response.contact else NameAddr(invite.uri)
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag or "",
            local_uri=_untagged(invite.to),
            remote_uri=_untagged(invite.from_),
            local_target=local_contact,
            remote_target=invite.contact[0].uri,
            route_set=list(invite.record_route),
            remote_cseq=invite.cseq.number,
            secure=_is_sips(invite.uri),
            state=_state_for(response),
        )

    @classmethod
    def as_uac(cls, invite: Request, response: Response) -> Dialog:
        """The caller's dialog, from the INVITE sent and a 1xx/2xx received (§12.1.2)."""
        if not response.to.tag or not response.contact:
            raise DialogError("a dialog needs a To tag and a Contact on the response")
        if not invite.contact:
            raise DialogError("the INVITE has no Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_.tag or "",
            remote_tag=response.to.tag,
            local_uri=_untagged(invite.from_),
            remote_uri=_untagged(response.to),
            local_target=invite.contact[0],
            remote_target=response.contact[0].uri,
            route_set=list(reversed(response.record_route)),
            local_cseq=invite.cseq.number,
            secure=_is_sips(invite.uri),
            state=_state_for(response),
        )

    def create_request(
        self,
        method: str,
        via: Via,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """A request inside the dialog (§12.2.1.1) with the next local CSeq."""
        if self.state is DialogState.TERMINATED:
            raise DialogError(f"cannot send {method} in a terminated dialog")
        self.local_cseq += 1
        return self._request(method, via, self.local_cseq, body, content_type, headers)

    def ack(
        self, invite_cseq: int, via: Via, body: bytes = b"", content_type: str | None = None
    ) -> Request:
        """The ACK for a 2xx to the INVITE numbered ``invite_cseq``: its own transaction (a new
        branch in ``via``), the INVITE's CSeq number (§13.2.2.4)."""
        return self._request("ACK", via, invite_cseq, body, content_type, ())

    def bye(self, via: Via, reason: str | None = None) -> Request:
        """A BYE ending the call; ``reason`` fills a Reason header (RFC 3326)."""
        headers = [("Reason", reason)] if reason else []
        request = self.create_request("BYE", via, headers=headers)
        self.state = DialogState.TERMINATED
        return request

    def reinvite(self, via: Via, sdp: bytes, headers: Iterable[tuple[str, str]] = ()) -> Request:
        """A re-INVITE with a new SDP offer (hold, codec change, session refresh)."""
        return self.create_request(
            "INVITE", via, body=sdp, content_type="application/sdp", headers=headers
        )

    def refer(self, via: Via, target: Uri, referred_by: NameAddr | None = None) -> Request:
        """A REFER asking the peer to call ``target`` (RFC 3515: blind transfer)."""
        headers = [("Refer-To", f"<{target}>")]
        if referred_by is not None:
            headers.append(("Referred-By", str(referred_by)))
        return self.create_request("REFER", via, headers=headers)

    def info(self, via: Via, body: bytes, content_type: str) -> Request:
        """An INFO carrying ``body`` (e.g. application/dtmf-relay; RFC 6086)."""
        return self.create_request("INFO", via, body=body, content_type=content_type)

    def matches_request(self, request: Request) -> bool:
        """Whether a received request belongs to this dialog (Call-ID and both tags)."""
        return (
            request.call_id == self.call_id
            and request.to.tag == self.local_tag
            and (request.from_.tag or "") == self.remote_tag
        )

    def receive_request(self, request: Request) -> int | None:
        """Take in a request of this dialog; the status to refuse it with, or None.

        A CSeq lower than the last one is out of order (500, §12.2.2); ACK and CANCEL carry
        their INVITE's number and are not checked. A target refresh updates the remote target."""
        if not self.matches_request(request):
            return 481
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_cseq is not None and request.cseq.number <= self.remote_cseq:
                return 500
            self.remote_cseq = request.cseq.number
        if request.method in _TARGET_REFRESH and request.contact:
            self.remote_target = request.contact[0].uri
        if request.method == "BYE":
            self.state = DialogState.TERMINATED
        return None

    def receive_response(self, request: Request, response: Response) -> None:
        """Take in a response to a request we sent in this dialog: a 2xx to a target refresh
        updates the remote target; an early dialog is confirmed by a 2xx to its INVITE."""
        if 200 <= response.status < 300 and request.method in _TARGET_REFRESH:
            if response.contact:
                self.remote_target = response.contact[0].uri
            if self.state is DialogState.EARLY:
                self.state = DialogState.CONFIRMED
        if response.status in (408, 481) and request.method != "BYE":
            # RFC 3261 §12.2.1.2: the dialog is gone at the other end.
            self.state = DialogState.TERMINATED

    def _request(
        self,
        method: str,
        via: Via,
        number: int,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
    ) -> Request:
        uri, route = self._target_and_route()
        request = Request(
            method=method,
            uri=uri,
            via=[via],
            from_=self.local_uri.with_tag(self.local_tag),
            to=self.remote_uri.with_tag(self.remote_tag) if self.remote_tag else self.remote_uri,
            call_id=self.call_id,
            cseq=CSeq(number, method),
            contact=[self.local_target] if method in ("INVITE", "UPDATE", "REFER") else [],
            route=route,
            body=body,
        )
        if content_type is not None:
            request.headers.add("Content-Type", content_type)
        for name, value in headers:
            request.headers.add(name, value)
        return request

    def _target_and_route(self) -> tuple[Uri, list[NameAddr]]:
        """Request-URI and Route set: loose routing keeps the remote target as Request-URI;
        a strict router (no ``lr``) is put in the Request-URI and the target last in Route."""
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0].uri
        if isinstance(first, SipUri) and first.loose_routing:
            return self.remote_target, list(self.route_set)
        return first, [*self.route_set[1:], NameAddr(self.remote_target)]


def _untagged(value: NameAddr) -> NameAddr:
    params = {name: v for name, v in value.params.items() if name != "tag"}
    return NameAddr(value.uri, value.display_name, params)


def _is_sips(uri: Uri) -> bool:
    return isinstance(uri, SipUri) and uri.secure


def _state_for(response: Response) -> DialogState:
    if 101 <= response.status < 200:
        return DialogState.EARLY
    if 200 <= response.status < 300:
        return DialogState.CONFIRMED
    raise DialogError(f"a {response.status} response does not create a dialog")
