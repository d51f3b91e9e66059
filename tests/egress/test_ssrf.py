from __future__ import annotations

import ipaddress
from functools import partial
from ipaddress import IPv4Address, IPv6Address

import anyio
import pytest

from enclosure.egress._ssrf import (
    METADATA,
    SystemResolver,
    checked_address,
    ip_literal,
    refusal,
)
from enclosure.errors import EgressRefused

PUBLIC = None

# (address, expected refusal): IPv4, IPv6, and IPv6 forms that carry IPv4.
MATRIX: list[tuple[str, str | None]] = [
    # IPv4, public
    ("8.8.8.8", PUBLIC),
    ("1.1.1.1", PUBLIC),
    ("93.184.216.34", PUBLIC),
    ("100.63.255.255", PUBLIC),  # just below CGNAT
    ("100.128.0.0", PUBLIC),  # just above CGNAT
    ("172.15.255.255", PUBLIC),
    ("172.32.0.0", PUBLIC),
    ("192.169.0.1", PUBLIC),
    ("223.255.255.255", PUBLIC),
    ("198.17.255.255", PUBLIC),  # just below benchmarking
    # IPv4, refused
    ("0.0.0.0", "unspecified"),  # noqa: S104 -- classified, never bound
    ("0.1.2.3", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.1.1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("169.254.169.253", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("192.0.0.192", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.255", "shared (CGNAT)"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "reserved"),
    ("198.51.100.1", "reserved"),
    ("203.0.113.1", "reserved"),
    ("198.18.0.1", "reserved"),
    ("198.19.255.255", "reserved"),
    ("192.0.0.8", "reserved"),
    ("192.88.99.1", "reserved"),
    # IPv6, public
    ("2606:4700:4700::1111", PUBLIC),
    ("2001:4860:4860::8888", PUBLIC),
    ("2a00:1450:4001:81b::200e", PUBLIC),
    # IPv6, refused
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fec0::1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456:789a::1", "private"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("fd00:ec2::254", "cloud metadata"),
    ("fd20:ce::254", "cloud metadata"),
    ("2001:db8::1", "reserved"),
    ("3fff::1", "reserved"),
    ("100::1", "reserved"),
    ("2001:10::1", "reserved"),
    ("2001:20::1", "reserved"),
    ("5f00::1", "reserved"),
    ("4000::1", "reserved"),  # outside global unicast 2000::/3
    ("1::1", "reserved"),
    # IPv4-mapped ::ffff:a.b.c.d: the IPv4 address itself
    ("::ffff:8.8.8.8", PUBLIC),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:7f00:1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("::ffff:100.64.0.1", "shared (CGNAT)"),
    # IPv4-compatible ::a.b.c.d and SIIT ::ffff:0:a.b.c.d: deprecated, never public
    ("::127.0.0.1", "loopback"),
    ("::169.254.169.254", "cloud metadata"),
    ("::8.8.8.8", "reserved"),
    ("::2", "unspecified"),
    ("::ffff:0:127.0.0.1", "loopback"),
    ("::ffff:0:8.8.8.8", "reserved"),
    # 6to4 2002:V4ADDR::/48
    ("2002:808:808::1", PUBLIC),
    ("2002:7f00:1::1", "loopback"),
    ("2002:a9fe:a9fe::", "cloud metadata"),
    ("2002:c0a8:101::1", "private"),
    ("2002:0:0::1", "unspecified"),
    # NAT64 64:ff9b::/96 (well-known) and 64:ff9b:1::/48 (local use)
    ("64:ff9b::808:808", PUBLIC),
    ("64:ff9b::8.8.4.4", PUBLIC),
    ("64:ff9b::127.0.0.1", "loopback"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),
    ("64:ff9b::10.1.2.3", "private"),
    ("64:ff9b:1::169.254.169.254", "cloud metadata"),
    ("64:ff9b:1::8.8.8.8", PUBLIC),
    # Teredo 2001:0:SERVER:flags:port:~CLIENT
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", PUBLIC),  # 65.54.227.120, client 8.8.8.8
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"),  # client 192.0.2.45
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # client 127.0.0.1
    ("2001:0:a00:1::1", "private"),  # server 10.0.0.1
    ("2001:0:a9fe:a9fe::", "cloud metadata"),  # server 169.254.169.254
]


def test_the_matrix_is_broad():
    assert len(MATRIX) >= 60
    assert len({a for a, _ in MATRIX}) == len(MATRIX)
    assert {r for _, r in MATRIX} == {
        None,
        "unspecified",
        "loopback",
        "private",
        "link-local",
        "cloud metadata",
        "shared (CGNAT)",
        "multicast",
        "broadcast",
        "reserved",
    }


@pytest.mark.parametrize(("address", "expected"), MATRIX)
def test_refusal(address, expected):
    assert refusal(ipaddress.ip_address(address)) == expected


def test_every_metadata_address_is_refused_as_such():
    for address in METADATA:
        assert refusal(address) == "cloud metadata"
        if isinstance(address, IPv4Address):
            mapped = IPv6Address(f"::ffff:{address}")
            assert refusal(mapped) == "cloud metadata"


# --- IP literals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.000.000.001", "127.0.0.1"),
        ("169.254.169.254.", "169.254.169.254"),
        ("0", "0.0.0.0"),  # noqa: S104 -- classified, never bound
        ("example.com", None),
        ("1e100.net", None),
        ("0x7f.example", None),
        ("localhost", None),
    ],
)
def test_ip_literal(host, expected):
    found = ip_literal(host)
    assert (None if found is None else found) == (
        None if expected is None else ipaddress.ip_address(expected)
    )


@pytest.mark.parametrize("host", ["1.2.3.999", "08", "0x1.0x2.0x3.0x100", "4294967296"])
def test_numeric_hosts_that_are_not_addresses_are_refused(host):
    with pytest.raises(EgressRefused) as caught:
        ip_literal(host)
    assert caught.value.code == "E-EGRESS-SSRF"


# --- checked_address -----------------------------------------------------------------


class Rebinder:
    """Answers a public address first, then a private one: DNS rebinding."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = [[ipaddress.ip_address(a) for a in answer] for answer in answers]
        self.calls: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[IPv4Address | IPv6Address]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def check(host: str, resolver, **options) -> IPv4Address | IPv6Address:
    kwargs = {"allow_private": False, "is_literal_allowed": False, **options}
    return anyio.run(partial(checked_address, host, 443, resolver=resolver, **kwargs))


def refused(host: str, resolver, **options) -> EgressRefused:
    with pytest.raises(EgressRefused) as caught:
        check(host, resolver, **options)
    return caught.value


def test_a_rebinding_name_is_resolved_once_and_the_checked_answer_returned():
    resolver = Rebinder(["93.184.216.34"], ["127.0.0.1"])
    address = check("rebind.example", resolver)
    assert address == IPv4Address("93.184.216.34")
    assert resolver.calls == [("rebind.example", 443)]
    # Asked again, the name has turned private: that answer is refused.
    error = refused("rebind.example", resolver)
    assert error.code == "E-EGRESS-SSRF"
    assert len(resolver.calls) == 2


def test_any_private_answer_refuses_the_whole_name():
    resolver = Rebinder(["93.184.216.34", "10.0.0.5"])
    error = refused("mixed.example", resolver, rule="web")
    assert error.code == "E-EGRESS-SSRF"
    assert error.status == 403
    assert error.rule == "web"
    assert "10.0.0.5" in error.message
    assert "private" in error.message


def test_the_first_answer_is_returned():
    resolver = Rebinder(["2606:4700:4700::1111", "1.1.1.1"])
    assert check("one.example", resolver) == IPv6Address("2606:4700:4700::1111")


def test_allow_private_lets_private_answers_through():
    resolver = Rebinder(["127.0.0.1", "169.254.169.254"])
    assert check("local.example", resolver, allow_private=True) == IPv4Address(
        "127.0.0.1"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "2130706433", "8.8.8.8"])
def test_an_ip_literal_no_rule_names_is_refused_without_resolving(host):
    resolver = Rebinder(["8.8.8.8"])
    error = refused(host, resolver, allow_private=True)
    assert error.code == "E-EGRESS-SSRF"
    assert resolver.calls == []


def test_a_named_public_ip_literal_is_returned_without_resolving():
    resolver = Rebinder(["1.1.1.1"])
    assert check("8.8.8.8", resolver, is_literal_allowed=True) == IPv4Address("8.8.8.8")
    assert resolver.calls == []


def test_a_named_private_ip_literal_still_needs_allow_private():
    resolver = Rebinder()
    error = refused("[::1]", resolver, is_literal_allowed=True)
    assert error.code == "E-EGRESS-SSRF"
    assert "loopback" in error.message
    allowed = check("[::1]", resolver, is_literal_allowed=True, allow_private=True)
    assert allowed == IPv6Address("::1")


def test_a_metadata_answer_is_refused():
    resolver = Rebinder(["::ffff:169.254.169.254"])
    error = refused("metadata.example", resolver)
    assert "cloud metadata" in error.message


def test_no_answer_is_a_dns_error():
    error = refused("empty.example", Rebinder([]))
    assert error.code == "E-EGRESS-DNS"
    assert error.status == 502


# --- SystemResolver ------------------------------------------------------------------


def resolve(host: str, port: int = 80) -> list[IPv4Address | IPv6Address]:
    return anyio.run(SystemResolver().resolve, host, port)


def test_the_system_resolver_reads_ip_addresses_without_dns():
    assert resolve("127.0.0.1") == [IPv4Address("127.0.0.1")]
    assert resolve("::1") == [IPv6Address("::1")]


def test_the_system_resolver_answers_localhost_once_per_address():
    answers = resolve("localhost")
    assert answers
    assert len(answers) == len(set(answers))
    assert all(a.is_loopback for a in answers)


# Names the idna codec refuses: the failure is local, no DNS server is asked.
@pytest.mark.parametrize("host", ["a" * 64 + ".example", "a..example"])
def test_a_name_that_cannot_be_resolved_is_a_dns_error(host):
    with pytest.raises(EgressRefused) as caught:
        resolve(host)
    assert caught.value.code == "E-EGRESS-DNS"
    assert caught.value.status == 502


def test_checked_address_through_the_system_resolver():
    resolver = SystemResolver()
    error = refused("localhost", resolver)
    assert error.code == "E-EGRESS-SSRF"
    assert check("localhost", resolver, allow_private=True).is_loopback
