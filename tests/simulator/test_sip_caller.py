"""The simulated SIP caller's refusals: a ``--sip`` it cannot dial names the option and the fix;
a server that does not answer SIP is reported as such, not hung on. The whole call against a
real server is in tests/e2e/test_sip_caller.py."""

from __future__ import annotations

import socket

import pytest
import typer
from typer.testing import CliRunner

from aybiza.simulator.command import call as call_command
from aybiza.simulator.sip_client import SipSimulatedCall
from aybiza.simulator.sip_dialer import SipCallError, parse_target


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("call")(call_command)
    return app


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("tel:+15005550006", "must be a sip: URI"),
        ("sips:+15005550006@127.0.0.1", "UDP or TCP"),
        ("sip:+15005550006@127.0.0.1;transport=tls", "UDP or TCP"),
        ("sip:+15005550006@bad host", "--sip"),
        ("not a uri", "--sip"),
    ],
)
def test_a_sip_uri_it_cannot_dial_is_refused_naming_the_option(uri: str, says: str) -> None:
    with pytest.raises(SipCallError, match=says):
        parse_target(uri)


def test_udp_and_tcp_uris_are_taken_with_their_port() -> None:
    uri = parse_target("sip:+15005550006@127.0.0.1:5070;transport=tcp")
    assert (uri.user, uri.host, uri.port, uri.transport) == (
        "+15005550006",
        "127.0.0.1",
        5070,
        "TCP",
    )


async def test_a_server_that_does_not_answer_sip_is_named_with_the_setting_to_check() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never read: no response, not even a refusal
        port = silent.getsockname()[1]
        with pytest.raises(SipCallError, match="AYBIZA_SIP_LISTEN") as refused:
            await SipSimulatedCall.dial(f"sip:+15005550006@127.0.0.1:{port}", timeout_s=0.5)
    assert f"udp:127.0.0.1:{port}" in str(refused.value)


def test_the_command_takes_sip_without_to_and_credentials_in_pairs() -> None:
    both = CliRunner().invoke(_cli(), ["--sip", "sip:+15005550006@127.0.0.1", "--to", "+1555"])
    assert both.exit_code == 2 and "--to" in both.output
    half = CliRunner().invoke(
        _cli(), ["--sip", "sip:+15005550006@127.0.0.1", "--sip-username", "acme"]
    )
    assert half.exit_code == 2 and "--sip-password" in half.output


def test_the_command_reports_a_sip_uri_it_cannot_dial_and_exits_1() -> None:
    result = CliRunner().invoke(_cli(), ["--sip", "sips:+15005550006@127.0.0.1"])
    assert result.exit_code == 1
    assert "UDP or TCP" in result.output
