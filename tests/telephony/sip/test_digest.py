"""Digest authentication against the published examples (RFC 2617 §3.5, RFC 7616 §3.9.1,
PROTOCOLS.md §7.1), and the UAS side: nonces, replay, a wrong password."""

from __future__ import annotations

import pytest

from aybiza.telephony.sip.digest import (
    Challenge,
    Credentials,
    NonceIssuer,
    authorize,
    choose_challenge,
    compute_response,
    digest_ha1,
    verify,
)
from aybiza.telephony.sip.syntax import SipParseError

RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def test_rfc_2617_example_response() -> None:
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    credentials = authorize(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
    )
    assert credentials.response == "6629fae49393a05397450978507c4ef1"
    assert (credentials.qop, credentials.nc) == ("auth", "00000001")
    assert credentials.opaque == "5ccc069c403ebaf9f0171e9517f40e41"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_examples_for_md5_and_sha_256(algorithm: str, expected: str) -> None:
    challenge = Challenge("http-auth@example.org", RFC7616_NONCE, algorithm, ("auth",))
    credentials = authorize(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce=RFC7616_CNONCE,
    )
    assert credentials.response == expected


def test_protocols_worked_example_with_and_without_qop() -> None:
    ha1 = digest_ha1("alice", "example.com", "secret")
    assert ha1 == "b1726872c344b6dc8365b774f8fd6412"
    nonce, uri = "dcd98b7102dd2f0e8b11d0f600bfb0c093", "sip:+15551230000@trunk.example.com"
    plain = compute_response(algorithm="MD5", ha1=ha1, nonce=nonce, method="INVITE", uri=uri)
    assert plain == "e6eb8f9b9c289b4bfffb350d6e1ca698"
    with_qop = compute_response(
        algorithm="MD5",
        ha1=ha1,
        nonce=nonce,
        method="INVITE",
        uri=uri,
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert with_qop == "57c15b14c58602a6bbe3d2b3a765281a"


def test_authorization_header_round_trips_and_verifies_on_the_uas() -> None:
    challenge = Challenge("sip.example.com", "abc123", "SHA-256", ("auth",), opaque="o")
    sent = authorize(
        challenge, username="trunk", password="s3cret", method="INVITE", uri="sip:+1@h"
    )
    received = Credentials.parse(str(sent))
    assert received == sent
    assert verify(received, method="INVITE", password="s3cret")
    assert not verify(received, method="INVITE", password="wrong")
    assert not verify(received, method="BYE", password="s3cret")


def test_sess_and_auth_int_variants_verify() -> None:
    challenge = Challenge("r", "n", "SHA-256-sess", ("auth-int",))
    sent = authorize(
        challenge, username="u", password="p", method="INVITE", uri="sip:a@b", body=b"v=0"
    )
    assert sent.qop == "auth-int"
    assert verify(sent, method="INVITE", password="p", body=b"v=0")
    assert not verify(sent, method="INVITE", password="p", body=b"v=1")


def test_strongest_supported_challenge_is_chosen() -> None:
    md5 = Challenge("r", "n1", "MD5", ("auth",))
    sha256 = Challenge("r", "n2", "SHA-256", ("auth",))
    unknown = Challenge("r", "n3", "SHA3-1024", ("auth",))
    assert choose_challenge([md5, unknown, sha256]) == sha256
    assert choose_challenge([unknown]) is None


def test_challenge_writes_what_it_parses() -> None:
    challenge = Challenge("sip.example.com", "n", "SHA-256", ("auth",), "op", stale=True)
    assert Challenge.parse(str(challenge)) == challenge


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('Basic realm="x"', "not Digest"),
        ('Digest nonce="n"', "missing realm"),
        ('Digest realm="x, nonce="n"', "unterminated"),
        ("Digest realm", "not name=value"),
    ],
)
def test_malformed_challenges_are_refused_naming_the_problem(value: str, words: str) -> None:
    with pytest.raises(SipParseError, match=words):
        Challenge.parse(value)


def test_credentials_with_qop_need_nc_and_cnonce() -> None:
    with pytest.raises(SipParseError, match="needs nc and cnonce"):
        Credentials.parse('Digest username="u", nonce="n", uri="sip:a@b", response="r", qop=auth')


def test_nonce_issuer_accepts_its_own_fresh_nonces_and_refuses_replays() -> None:
    now = [1_000_000.0]
    issuer = NonceIssuer(b"secret", lifetime=300, clock=lambda: now[0])
    nonce = issuer.issue()
    assert issuer.check(nonce, "00000001") == "valid"
    assert issuer.check(nonce, "00000001") == "replayed"
    assert issuer.check(nonce, "00000002") == "valid"
    assert issuer.check(nonce.replace(".", ".0"), "00000003") == "invalid"
    assert NonceIssuer(b"other", clock=lambda: now[0]).check(nonce) == "invalid"
    now[0] += 301
    assert issuer.check(nonce, "00000004") == "stale"
