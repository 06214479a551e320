"""Session timer negotiation (RFC 4028) on the headers of real requests."""

from __future__ import annotations

from aybiza.telephony.sip.message import Request, parse
from aybiza.telephony.sip.session_timer import SessionTimer, too_small


def _invite(extra: str) -> Request:
    message = parse(
        (
            "INVITE sip:+15005550006@127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKst1\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\n"
            f"Call-ID: st@127.0.0.1\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, Request)
    return message


async def _never() -> None:
    return None


def test_an_interval_below_min_se_is_refused_with_422_headers() -> None:
    assert too_small(_invite("Session-Expires: 60\r\n")) == [("Min-SE", "90")]
    assert too_small(_invite("Session-Expires: 1800\r\n")) is None
    assert too_small(_invite("")) is None


async def test_a_uac_that_supports_timers_refreshes_and_we_require_timer() -> None:
    timer = SessionTimer(_never, _never)
    headers = timer.answer(_invite("Session-Expires: 1800\r\nSupported: timer\r\n"))
    assert headers == [("Session-Expires", "1800;refresher=uac"), ("Require", "timer")]
    assert timer.interval == 1800 and not timer.we_refresh
    timer.cancel()


async def test_a_uac_without_timer_support_leaves_the_refreshing_to_us() -> None:
    timer = SessionTimer(_never, _never)
    assert timer.answer(_invite("Session-Expires: 900\r\n")) == [
        ("Session-Expires", "900;refresher=uas")
    ]
    assert timer.we_refresh
    assert timer.request_headers() == [("Session-Expires", "900;refresher=uac")]
    timer.cancel()


async def test_a_refresh_restarts_the_timer_with_what_it_asks() -> None:
    timer = SessionTimer(_never, _never)
    timer.answer(_invite("Session-Expires: 1800;refresher=uac\r\nSupported: timer\r\n"))
    refreshed = timer.refreshed(_invite("Session-Expires: 600;refresher=uas\r\n"))
    assert refreshed == [("Session-Expires", "600;refresher=uas")]
    assert timer.interval == 600 and timer.we_refresh
    assert timer.refreshed(_invite("")) == []
    timer.cancel()


async def test_no_session_expires_means_no_timer() -> None:
    timer = SessionTimer(_never, _never)
    assert timer.answer(_invite("")) == []
    assert timer.interval is None
