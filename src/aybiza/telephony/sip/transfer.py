"""Blind transfer over SIP (RFC 3515 REFER, RFC 5589 call transfer).

The agent's ``transfer_call`` ends the call loop with a number or SIP URI; the call then sends
the far end (the trunk's gateway or PBX) a REFER whose ``Refer-To`` is that target. The far
end accepts (202) and reports the new call's progress in NOTIFYs carrying a ``message/sipfrag``
status line; a 2xx there means the caller is now talking to the target, and we hang up our
leg. A refused REFER, or a failed or silent transfer, returns False: the caller then gets a BYE
rather than silence.
"""

from __future__ import annotations

import asyncio
import contextlib

from aybiza.telephony.sip.dialog import Dialog
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.headers import Via
from aybiza.telephony.sip.message import Response
from aybiza.telephony.sip.syntax import SipParseError
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.uri import SipUri, Uri, parse_uri
from aybiza.timeouts import within

# How long the far end may take to report the transferred call's outcome.
NOTIFY_WAIT_S = 30.0


def transfer_target(target: str, dialog: Dialog) -> Uri:
    """The Refer-To URI of ``target``: a SIP URI as given; a number as a SIP URI at the far
    end's host, which routes it onward as its own outbound call."""
    if target.startswith(("sip:", "sips:")):
        with contextlib.suppress(SipParseError):  # not a SIP URI after all: a name to route
            return parse_uri(target, "transfer_to")
    remote = dialog.remote_target
    host = remote.host if isinstance(remote, SipUri) else "invalid"
    port = remote.port if isinstance(remote, SipUri) else None
    return SipUri(host, user=target, port=port, params={"user": "phone"})


def sipfrag_status(body: str) -> int | None:
    """The status code of a ``message/sipfrag`` body (``SIP/2.0 200 OK``)."""
    first = body.strip().split("\r\n", 1)[0].split("\n", 1)[0].split()
    if len(first) >= 2 and first[0].upper() == "SIP/2.0" and first[1].isdigit():
        return int(first[1])
    return None


async def refer_and_wait(
    endpoint: SipEndpoint,
    dialog: Dialog,
    peer: Peer,
    via: Via,
    target: Uri,
    notifications: asyncio.Queue[str],
) -> bool:
    """Send the REFER and wait for the transferred call's final status; True on success."""
    done: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

    def on_response(response: Response) -> None:
        if response.status >= 200 and not done.done():
            done.set_result(response)

    def on_failure(_: object) -> None:
        if not done.done():
            done.set_result(None)

    request = dialog.refer(via, target)
    endpoint.send_request(request, peer, on_response=on_response, on_failure=on_failure)
    try:
        response = await within(done, NOTIFY_WAIT_S)
        if response is None or not 200 <= response.status < 300:
            return False
        while True:
            status = sipfrag_status(await within(notifications.get(), NOTIFY_WAIT_S))
            if status is not None and status >= 200:
                return status < 300
    except TimeoutError:
        return False
