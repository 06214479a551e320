"""Item 1 (SSRF) of the hardening issue, as pure rules: which addresses and URLs the guard
refuses, decided without DNS and without a socket (nothing here connects anywhere, so private
and link-local addresses are fine to name)."""

from __future__ import annotations

import ipaddress

import pytest
from tests.fakes.loopback import LOOPBACK_CIDRS, StubResolver

from aybiza.config import Settings
from aybiza.outbound.addresses import AllowList, address_problem, is_local_name, literal_address
from aybiza.outbound.guard import Guard


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("127.8.9.10", "is a loopback address"),
        ("::1", "::1 is a loopback address"),
        ("10.20.30.40", "10.20.30.40 is a private address"),
        ("172.16.0.1", "is a private address"),
        ("192.168.1.1", "is a private address"),
        ("fc00::1", "is a private address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address"),
        ("fe80::1", "is a link-local address"),
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
        ("ff02::1", "is a multicast address"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),
        ("::", ":: is an unspecified address"),
        ("100.64.0.1", "is a shared (carrier-grade NAT) address"),
        ("fec0::1", "is a site-local address"),
        ("240.0.0.1", "is a reserved address"),
        ("255.255.255.255", "is a reserved address"),
        ("192.0.0.8", "is a reserved address"),
        ("198.18.0.1", "is a private address"),
        ("::ffff:10.0.0.1", "10.0.0.1 is a private address (inside ::ffff:a00:1)"),
        ("2002:a9fe:a9fe::1", "169.254.169.254 is a link-local address (inside 2002:"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254 is a link-local address (inside 64:ff9b::"),
    ],
)
def test_item1_each_refused_address_class_is_named(text: str, label: str) -> None:
    problem = address_problem(ipaddress.ip_address(text))
    assert problem is not None and label in problem


@pytest.mark.parametrize(
    "text", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"]
)
def test_item1_public_addresses_pass(text: str) -> None:
    assert address_problem(ipaddress.ip_address(text)) is None


def test_item1_the_allow_list_admits_only_the_networks_it_names() -> None:
    allow = AllowList.of(["127.0.0.0/8", "10.1.0.0/16"])
    for text in ("127.0.0.5", "::ffff:127.0.0.1", "10.1.2.3"):
        assert allow.allows(ipaddress.ip_address(text)), text
    for text in ("::1", "10.2.0.1", "169.254.169.254", "8.8.8.8"):
        assert not allow.allows(ipaddress.ip_address(text)), text
    assert not AllowList().allows(ipaddress.ip_address("127.0.0.1"))


def test_item1_legacy_ipv4_spellings_are_read_as_the_address_they_mean() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    for text in ("127.1", "0x7f.0.0.1", "2130706433", "017700000001", "[::ffff:127.0.0.1]"):
        found = literal_address(text)
        if isinstance(found, ipaddress.IPv6Address):
            found = found.ipv4_mapped
        assert found == loopback, text
    for text in ("example.com", "1e100.net", "hooks.example.test"):
        assert literal_address(text) is None, text


def test_item1_local_names_are_recognised() -> None:
    for name in ("localhost", "LOCALHOST.", "api.localhost", "db.internal", "printer.local"):
        assert is_local_name(name), name
    for name in ("example.com", "localhost.example.com", "internal.example.com"):
        assert not is_local_name(name), name


def test_item1_urls_refused_at_creation_are_refused_without_dns() -> None:
    dns = StubResolver({})
    guard = Guard(resolver=dns)
    refused = [
        "http://127.0.0.1:9/hook",
        "http://[::1]:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.20.30.40/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://0x7f.1/",
        "http://2130706433/",
        "http://localhost:8080/hook",
        "http://api.localhost/",
        "http://db.internal/",
        "http://printer.local./",
        "ftp://example.com/hook",
        "not a url",
    ]
    for url in refused:
        assert guard.url_problem(url) is not None, url
    problem = guard.url_problem("http://169.254.169.254/")
    assert problem is not None
    assert "link-local" in problem and "AYBIZA_OUTBOUND_ALLOW_CIDRS" in problem
    for url in ("https://example.com/hook", "http://8.8.8.8/x", "https://hooks.example.test:8443/"):
        assert guard.url_problem(url) is None, url
    assert dns.asked == []


def test_item1_the_allow_list_opens_exactly_what_it_names_at_creation() -> None:
    loopback = Guard(LOOPBACK_CIDRS)
    for url in ("http://127.0.0.1:9/", "http://[::1]:9/", "http://localhost:9/"):
        assert loopback.url_problem(url) is None, url
    for url in ("http://10.0.0.1/", "http://db.internal/", "http://169.254.169.254/"):
        assert loopback.url_problem(url) is not None, url
    private = Guard(["10.0.0.0/8"])
    assert private.url_problem("http://db.internal/") is None
    assert private.url_problem("http://localhost/") is not None


def test_item1_the_allow_list_variable_is_read_and_a_bad_entry_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AYBIZA_OUTBOUND_ALLOW_CIDRS", raising=False)
    assert Settings.from_env().outbound_allow_cidrs == ()
    monkeypatch.setenv("AYBIZA_OUTBOUND_ALLOW_CIDRS", " 127.0.0.0/8, ::1/128 ,")
    assert [str(n) for n in Settings.from_env().outbound_allow_cidrs] == ["127.0.0.0/8", "::1/128"]
    monkeypatch.setenv("AYBIZA_OUTBOUND_ALLOW_CIDRS", "127.0.0.0/8,10.0.0.0/33")
    with pytest.raises(ValueError, match=r"AYBIZA_OUTBOUND_ALLOW_CIDRS: '10.0.0.0/33'"):
        Settings.from_env()
