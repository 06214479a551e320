"""The one error the media wire formats raise (SDP, RTP, RTCP, telephone events)."""

from __future__ import annotations


class MediaFormatError(ValueError):
    """Input is not valid in a media wire format; ``field`` names the part that is wrong (an
    SDP line type such as ``m=``, an RTP header field, an RTCP packet part)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field
