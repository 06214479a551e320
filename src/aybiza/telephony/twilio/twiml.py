"""The TwiML the platform answers Twilio with: connect the media stream, refuse politely,
dial a transfer target or a number's fallback."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Response
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from aybiza.telephony.carrier import CONCURRENCY_LIMIT, UNKNOWN_NUMBER, AfterMedia, Refused

UNKNOWN_NUMBER_APOLOGY = (
    "Sorry, the number you dialled is not connected to an agent. Please check the number and "
    "try again. Goodbye."
)
BUSY_APOLOGY = (
    "Sorry, all of our agents are busy right now. Please call again in a few minutes. Goodbye."
)
BUSY_TRANSFER = "All of our agents are busy right now. Please hold while we transfer you."
UNAVAILABLE_APOLOGY = "Sorry, this line cannot take calls right now. Please try again later."


def twiml(response: VoiceResponse, status: int = 200) -> Response:
    return Response(content=str(response), media_type="application/xml", status_code=status)


def connect_stream(
    *, action_url: str, stream_url: str, parameters: dict[str, str]
) -> VoiceResponse:
    """``<Connect><Stream>`` with the call's parameters, then hang up."""
    response = VoiceResponse()
    connect = Connect(action=action_url)
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    response.hangup()
    return response


def refusal(refused: Refused) -> VoiceResponse:
    """A polite answer for a call no agent can take, transferring to the fallback if any."""
    response = VoiceResponse()
    if refused.reason == CONCURRENCY_LIMIT:
        response.say(BUSY_TRANSFER if refused.transfer_to else BUSY_APOLOGY)
    elif refused.transfer_to is None:
        unknown = refused.reason == UNKNOWN_NUMBER
        response.say(UNKNOWN_NUMBER_APOLOGY if unknown else UNAVAILABLE_APOLOGY)
    if refused.transfer_to:
        response.append(dial(refused.transfer_to, None))
    response.hangup()
    return response


def after_media(after: AfterMedia, whisper_url: str | None) -> VoiceResponse:
    """What Twilio runs once the stream closed: the transfer, the fallback, or hang up."""
    response = VoiceResponse()
    # The platform's number shows as the caller id of a transfer.
    if after.transfer_to:
        url = whisper_url if after.summary else None
        response.append(
            dial(after.transfer_to, after.platform_number, summary=after.summary, whisper_url=url)
        )
    elif after.fallback:
        response.append(dial(after.fallback, after.platform_number))
    else:
        response.hangup()
    return response


def whisper(summary: str) -> VoiceResponse:
    """Read to the person answering a warm transfer."""
    response = VoiceResponse()
    if summary:
        response.say(f"Transferred call from the AI agent. {summary}")
    return response


def dial(
    target: str, caller_id: str | None, *, summary: str = "", whisper_url: str | None = None
) -> Dial:
    """``<Dial>`` the transfer target. A warm transfer's summary goes with it: read to the
    person who answers a number before the caller is connected (Twilio's ``<Number url>``), or
    as an ``X-AYBIZA-Summary`` header on a SIP INVITE."""
    dialled = Dial(caller_id=caller_id or None)
    if target.startswith(("sip:", "sips:")):
        separator = "&" if "?" in target else "?"
        header = f"{separator}X-AYBIZA-Summary={quote(summary[:200])}" if summary else ""
        dialled.sip(target + header)
    elif whisper_url:
        dialled.number(target, url=whisper_url)
    else:
        dialled.number(target)
    return dialled
