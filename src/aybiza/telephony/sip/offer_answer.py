"""The SDP offer/answer model (RFC 3264) for one call's audio: G.711 at 8 kHz, ptime 20,
RFC 4733 telephone events, and hold.

``SdpSession`` is our side of every exchange in one dialog: it answers the far end's offers
(the INVITE's, then any re-INVITE's: hold, resume, codec change), makes our own offers, and
keeps the ``o=`` line right (same session id, version up by one whenever our description
changes, §8). Each exchange yields ``MediaParams``, what the RTP endpoint needs to know.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, replace
from typing import Literal

from aybiza.telephony.sip.sdp import (
    Attribute,
    Connection,
    Direction,
    Media,
    Origin,
    SdpError,
    SessionDescription,
)

Codec = Literal["PCMU", "PCMA"]
CODEC_PAYLOAD_TYPES: dict[Codec, int] = {"PCMU": 0, "PCMA": 8}
TELEPHONE_EVENT_PT = 101  # what we offer; in answers we use the offer's number
TELEPHONE_EVENTS = "0-16"
PTIME_MS = 20
PROTO = "RTP/AVP"
_SENDS: tuple[Direction, ...] = ("sendrecv", "sendonly")
_RECEIVES: tuple[Direction, ...] = ("sendrecv", "recvonly")
_REVERSED: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


class NotAcceptable(SdpError):
    """No audio stream we can take (no G.711 at 8 kHz over RTP/AVP): answer 488."""

    status_code = 488
    reason = "Not Acceptable Here"


def _direction(send: bool, receive: bool) -> Direction:
    if send and receive:
        return "sendrecv"
    return "sendonly" if send else "recvonly" if receive else "inactive"


@dataclass(frozen=True, slots=True)
class MediaParams:
    """What an exchange agreed for the audio stream. ``payload_type`` and
    ``telephone_event`` are in the far end's numbering; ``direction`` is ours;
    ``remote_address`` is None when the far end gave no usable IP address (0.0.0.0 hold, or a
    host name, which we do not resolve: symmetric RTP learns the address instead)."""

    codec: Codec
    payload_type: int
    telephone_event: int | None
    remote_address: str | None
    remote_port: int
    remote_rtcp_port: int
    direction: Direction
    ptime_ms: int = PTIME_MS

    @property
    def sends(self) -> bool:
        """Whether we may send RTP."""
        return self.direction in _SENDS

    @property
    def receives(self) -> bool:
        """Whether we take the far end's RTP."""
        return self.direction in _RECEIVES

    @property
    def held_by_far_end(self) -> bool:
        """The far end put us on hold (it will not take our audio)."""
        return not self.sends


# The media of a call whose exchange is not complete (a late offer awaiting the ACK's answer,
# or an answer we could not use): μ-law, nowhere to send yet.
UNNEGOTIATED = MediaParams("PCMU", 0, TELEPHONE_EVENT_PT, None, 0, 0, "sendrecv")


def _ip_literal(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return None if ip.is_unspecified else str(ip)


_CODECS: dict[str, Codec] = {"PCMU": "PCMU", "PCMA": "PCMA"}


def _codec_of(media: Media, payload_type: int) -> Codec | None:
    rtpmap = media.rtpmap(payload_type)
    if rtpmap is None or rtpmap.clock_rate != 8000 or rtpmap.channels != 1:
        return None
    return _CODECS.get(rtpmap.encoding.upper())


def _first_codec(
    media: Media, allowed: tuple[Codec, ...], offered: tuple[str, ...]
) -> tuple[int, Codec] | None:
    """The first payload type of ``media`` that is G.711 at 8 kHz, in ``allowed`` and in
    ``offered`` (the formats of the offer it answers)."""
    for payload_type in media.payload_types:
        codec = _codec_of(media, payload_type)
        if codec is not None and codec in allowed and str(payload_type) in offered:
            return payload_type, codec
    return None


def _telephone_event(media: Media) -> int | None:
    for payload_type in media.payload_types:
        rtpmap = media.rtpmap(payload_type)
        if (
            rtpmap is not None
            and rtpmap.encoding.lower() == "telephone-event"
            and rtpmap.clock_rate == 8000
        ):
            return payload_type
    return None


def _agreed(
    description: SessionDescription,
    media: Media,
    codec: tuple[int, Codec],
    telephone_event: int | None,
    allowed: Direction,
) -> MediaParams:
    """What the far end's section (its offer or its answer) lets us do with its stream, within
    what we ``allowed`` ourselves."""
    connection = description.connection_of(media)
    if connection is None:
        raise SdpError("the audio stream has no c= line, in it or in the session", "c=")
    theirs = description.direction_of(media)
    if connection.unspecified:  # RFC 2543 hold: send nothing to it (RFC 3264 §8.4)
        theirs = _direction(theirs in _SENDS, False)
    permitted = _REVERSED[theirs]
    return MediaParams(
        codec=codec[1],
        payload_type=codec[0],
        telephone_event=telephone_event,
        remote_address=_ip_literal(connection.address),
        remote_port=media.port,
        remote_rtcp_port=_rtcp_port(media),
        direction=_direction(
            permitted in _SENDS and allowed in _SENDS,
            permitted in _RECEIVES and allowed in _RECEIVES,
        ),
    )


def _rtcp_port(media: Media) -> int:
    for value in media.values("rtcp"):
        port = value.split()[0] if value.split() else ""
        if port.isdigit() and 0 < int(port) <= 65535:
            return int(port)
    return media.port + 1


class SdpSession:
    """Our SDP in one dialog: address and port of our RTP endpoint, codecs we take in our
    order of preference (for our offers; in answers the offer's order wins)."""

    def __init__(
        self,
        address: str,
        port: int,
        *,
        codecs: tuple[Codec, ...] = ("PCMU", "PCMA"),
        session_id: str | None = None,
        username: str = "aybiza",
    ) -> None:
        self.address = address
        self.port = port
        self.codecs = codecs
        self._origin = Origin(
            username,
            session_id or str(random.SystemRandom().getrandbits(62)),
            0,
            "IN",
            "IP6" if ":" in address else "IP4",
            address,
        )
        self._sent: tuple[Media, ...] | None = None
        self._offered: SessionDescription | None = None

    def _describe(self, media: tuple[Media, ...]) -> SessionDescription:
        if self._sent is not None and media != self._sent:
            self._origin = replace(self._origin, session_version=self._origin.session_version + 1)
        self._sent = media
        return SessionDescription(
            origin=self._origin, media=media, connection=Connection.for_address(self.address)
        )

    def _audio(
        self, codecs: list[tuple[int, Codec]], event: tuple[int, str] | None, d: Direction
    ) -> Media:
        formats = [str(pt) for pt, _ in codecs]
        attributes = [Attribute("rtpmap", f"{pt} {codec}/8000") for pt, codec in codecs]
        if event is not None:
            formats.append(str(event[0]))
            attributes.append(Attribute("rtpmap", f"{event[0]} telephone-event/8000"))
            attributes.append(Attribute("fmtp", f"{event[0]} {event[1]}"))
        attributes += [Attribute("ptime", str(PTIME_MS)), Attribute(d)]
        return Media("audio", self.port, PROTO, tuple(formats), attributes=tuple(attributes))

    def answer(
        self, offer: SessionDescription, *, hold: bool = False
    ) -> tuple[SessionDescription, MediaParams]:
        """Answer the far end's offer: the first audio stream with G.711 is taken, every other
        stream is refused with port 0 (§6). ``hold``: we hold the far end, so we answer without
        taking its audio (§8.4).
        Raises ``NotAcceptable`` when no stream can be taken, ``SdpError`` for a bad offer."""
        answered: list[Media] = []
        params: MediaParams | None = None
        for media in offer.media:
            taken = None if params is not None else self._take(offer, media, hold)
            if taken is None:
                answered.append(Media(media.kind, 0, media.proto, media.formats))
                continue
            params, section = taken
            answered.append(section)
        if params is None:
            offered = "; ".join(
                f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}" for m in offer.media
            )
            raise NotAcceptable(
                f"no audio stream with PCMU or PCMA at 8 kHz over {PROTO}; offered: "
                f"{offered or 'no media'}",
                "m=",
            )
        return self._describe(tuple(answered)), params

    def _take(
        self, offer: SessionDescription, media: Media, hold: bool
    ) -> tuple[MediaParams, Media] | None:
        if media.kind != "audio" or media.proto != PROTO or media.port == 0:
            return None
        choice = _first_codec(media, ("PCMU", "PCMA"), media.formats)
        if choice is None:
            return None
        event_pt = _telephone_event(media)
        params = _agreed(offer, media, choice, event_pt, "sendonly" if hold else "sendrecv")
        event = None if event_pt is None else (event_pt, media.fmtp(event_pt) or "0-15")
        return params, self._audio([choice], event, params.direction)

    def offer(self, *, hold: bool = False) -> SessionDescription:
        """Our offer (an INVITE we send, or a re-INVITE: ``hold`` offers sendonly, §8.4)."""
        codecs = [(CODEC_PAYLOAD_TYPES[c], c) for c in self.codecs]
        direction: Direction = "sendonly" if hold else "sendrecv"
        event = (TELEPHONE_EVENT_PT, TELEPHONE_EVENTS)
        self._offered = self._describe((self._audio(codecs, event, direction),))
        return self._offered

    def accept_answer(self, answer: SessionDescription) -> MediaParams:
        """The far end's answer to our last offer. Raises ``NotAcceptable`` when it refused
        the audio stream or chose nothing we offered."""
        if self._offered is None:
            raise SdpError("an answer arrived but no offer was made", "body")
        if len(answer.media) != len(self._offered.media):
            raise SdpError(
                f"the answer has {len(answer.media)} media sections for our "
                f"{len(self._offered.media)}",
                "m=",
            )
        media = answer.media[0]
        ours = self._offered.media[0]
        if media.port == 0:
            raise NotAcceptable("the far end refused the audio stream (port 0)", "m=")
        choice = _first_codec(media, self.codecs, ours.formats)
        if choice is None:
            raise NotAcceptable(f"the answer chose none of our codecs: {media.formats}", "m=")
        event_pt = _telephone_event(media)
        if str(event_pt) not in ours.formats:
            event_pt = None
        return _agreed(answer, media, choice, event_pt, ours.direction or "sendrecv")
