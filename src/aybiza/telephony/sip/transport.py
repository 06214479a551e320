"""placeholder"""

from __future__ import annotations

from aybiza.telephony.sip.headers import Via
from aybiza.telephony.sip.message import Response


def response_is_ours(response: Response, local: Via) -> bool:
    """RFC 3261 §18.1.2: a response whose top Via sent-by is not this transport's is dropped."""
    top = response.via[0]
    return top.host == local.host and (top.port or 5060) == (local.port or 5060)
