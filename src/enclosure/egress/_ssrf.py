"""SSRF protection: resolve a host once, refuse what is not public, connect to that.

A rule names a host, but what a name resolves to is up to whoever runs its DNS: an
attacker's ``evil.example`` may answer ``127.0.0.1`` or the cloud metadata address,
or answer a public address to the check and a private one to the connection
(DNS rebinding). So the proxy asks ``checked_address`` once per connection, which
resolves the host once, refuses the lot if any answer is not public (unless the
rule says ``allow_private``), and returns the one address the proxy then connects
to. Nothing resolves the name again between the check and the connection.

``refusal`` classifies an address. IPv6 forms that carry an IPv4 address (mapped,
compatible, SIIT, 6to4, NAT64, Teredo) are judged by the address they carry, since
that is where the packets go; the deprecated ones are refused even when it is
public. Hosts written as IP addresses (``127.0.0.1``, ``[::1]``, and the shorthand
the C library accepts, ``127.1`` or ``0x7f000001``) are refused unless a rule
names that address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Protocol

from enclosure.errors import EgressRefused

__all__ = [
    "Resolver",
    "SystemResolver",
    "checked_address",
    "ip_literal",
    "refusal",
]

IPAddress = IPv4Address | IPv6Address
"""Either kind of address, as ``ipaddress.ip_address`` returns."""

SSRF = "E-EGRESS-SSRF"
DNS = "E-EGRESS-DNS"

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.169.253",  # AWS VPC DNS
        "169.254.169.123",  # AWS time sync
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "168.63.129.16",  # Azure WireServer: a public address, but the platform's
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
        "fd20:ce::254",  # GCP over IPv6
    )
)
"""Cloud instance metadata endpoints: credentials for the taking."""

_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "unspecified"),  # "this network"; Linux connects 0.0.0.0 to lo
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
        ("192.0.2.0/24", "reserved"),  # documentation
        ("198.51.100.0/24", "reserved"),  # documentation
        ("203.0.113.0/24", "reserved"),  # documentation
        ("198.18.0.0/15", "reserved"),  # benchmarking
        ("192.88.99.0/24", "reserved"),  # 6to4 relay anycast, deprecated
        ("240.0.0.0/4", "reserved"),
    )
)

_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private"),  # site-local, deprecated
        ("fc00::/7", "private"),  # unique local
        ("ff00::/8", "multicast"),
        ("100::/64", "reserved"),  # discard
        ("2001:db8::/32", "reserved"),  # documentation
        ("3fff::/20", "reserved"),  # documentation
        ("2001:10::/28", "reserved"),  # ORCHID
        ("2001:20::/28", "reserved"),  # ORCHIDv2
        ("5f00::/16", "reserved"),  # SRv6 SIDs
    )
)

_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = (IPv6Network("64:ff9b::/96"), IPv6Network("64:ff9b:1::/48"))
_SIX_TO_FOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")
_SIIT = IPv6Network("::ffff:0:0:0/96")
_COMPATIBLE = IPv6Network("::/96")
_NUMERIC_V4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")


def _low_v4(address: IPv6Address) -> IPv4Address:
    return IPv4Address(int(address) & 0xFFFFFFFF)


def _v4_refusal(address: IPv4Address) -> str | None:
    if address in METADATA:
        return "cloud metadata"
    for net, reason in _V4:
        if address in net:
            return reason
    return None if address.is_global else "reserved"


def _embedded_refusal(address: IPv6Address) -> tuple[bool, str | None]:
    """(whether ``address`` carries an IPv4 address, the verdict when it does)."""
    if (mapped := address.ipv4_mapped) is not None:
        return True, _v4_refusal(mapped)  # a dual-stack socket reaches it directly
    if any(address in net for net in _NAT64):
        return True, _v4_refusal(_low_v4(address))  # DNS64 answers look like this
    if (six := address.sixtofour) is not None:
        return True, _v4_refusal(six)
    if (teredo := address.teredo) is not None:
        server, client = teredo
        return True, _v4_refusal(server) or _v4_refusal(client)
    if address in _SIIT or (address in _COMPATIBLE and int(address) > 1):
        return True, _v4_refusal(_low_v4(address)) or "reserved"  # deprecated forms
    return False, None


def refusal(address: IPAddress) -> str | None:
    """Why the proxy must not connect to ``address``, or None when it is public.

    Reasons: ``loopback``, ``private``, ``link-local``, ``multicast``,
    ``broadcast``, ``cloud metadata``, ``unspecified``, ``shared (CGNAT)`` and
    ``reserved`` (documentation, benchmarking and every other special range).

    >>> refusal(ipaddress.ip_address("::ffff:169.254.169.254"))
    'cloud metadata'
    >>> refusal(ipaddress.ip_address("2606:4700::1111")) is None
    True
    """
    if isinstance(address, IPv4Address):
        return _v4_refusal(address)
    if address.scope_id is not None:
        address = IPv6Address(int(address))
    if address in METADATA:
        return "cloud metadata"
    carries, reason = _embedded_refusal(address)
    if carries:
        return reason
    for net, why in _V6:
        if address in net:
            return why
    return None if address in _GLOBAL_UNICAST else "reserved"


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, if it is an IP address rather than a name.

    Besides the usual forms, the C library reads ``127.1``, ``2130706433`` and
    ``0x7f.0.0.1`` as IPv4 addresses, so they are literals too.

    Raises:
        EgressRefused: ``E-EGRESS-SSRF``, for a host that looks numeric but is no
            address (``1.2.3.999``): no name can look like that.
    """
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _NUMERIC_V4.fullmatch(host):
        return None
    try:
        return IPv4Address(socket.inet_aton(host))
    except OSError as exc:
        raise EgressRefused(
            f"host {host[:64]} looks like an IP address but is not one", code=SSRF
        ) from exc


class Resolver(Protocol):
    """Turns a host name into addresses; tests pass a fake."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` has, in the order to try them.

        Raises:
            EgressRefused: ``E-EGRESS-DNS`` (status 502) when it cannot.
        """
        ...


class SystemResolver:
    """The system's resolver (``getaddrinfo``: ``/etc/hosts``, then DNS)."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` for a TCP connection; answers deduplicated, order kept.

        Raises:
            EgressRefused: ``E-EGRESS-DNS`` (status 502): no such host, no address,
                or a name that cannot be encoded.
        """
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not a valid host name"
            raise EgressRefused(
                f"cannot resolve {host[:253]}: {why}", code=DNS, status=502
            ) from exc
        found: dict[IPAddress, None] = {}
        for family, _, _, _, sockaddr in infos:
            if family in {socket.AF_INET, socket.AF_INET6}:
                found[ipaddress.ip_address(sockaddr[0])] = None
        if not found:
            raise EgressRefused(
                f"cannot resolve {host[:253]}: no IP address", code=DNS, status=502
            )
        return list(found)


async def checked_address(
    host: str,
    port: int,
    *,
    resolver: Resolver,
    allow_private: bool,
    is_literal_allowed: bool,
    rule: str | None = None,
) -> IPAddress:
    """The one address to connect to for ``host``, checked.

    The host is resolved exactly once; the caller must connect to the address
    returned, never to ``host`` again: that is the guarantee against DNS
    rebinding. An IP-literal host is not resolved; it needs ``is_literal_allowed``
    (some rule names that address).

    Args:
        host: the host the client asked for (a name or an IP literal).
        port: the port, passed on to the resolver.
        resolver: where names are resolved.
        allow_private: the deciding rule(s) let the host be non-public.
        is_literal_allowed: a rule names this IP literal.
        rule: the deciding rule, named in the error.

    Returns:
        The first answer, when every answer is public or ``allow_private``.

    Raises:
        EgressRefused: ``E-EGRESS-SSRF`` (403) for a refused literal or answer;
            ``E-EGRESS-DNS`` (502) from the resolver.
    """
    literal = ip_literal(host)
    if literal is not None:
        if not is_literal_allowed:
            raise EgressRefused(
                f"host {literal} is an IP address no rule names", code=SSRF, rule=rule
            )
        answers: list[IPAddress] = [literal]
    else:
        answers = await resolver.resolve(host, port)
        if not answers:
            raise EgressRefused(
                f"cannot resolve {host[:253]}: no IP address", code=DNS, status=502
            )
    if not allow_private:
        for address in answers:
            if (reason := refusal(address)) is not None:
                shown = "" if literal is not None else f"{host[:253]} resolves to "
                raise EgressRefused(
                    f"{shown}{address}, which is not public ({reason}); a rule "
                    "must say allow_private to reach it",
                    code=SSRF,
                    rule=rule,
                )
    return answers[0]
