"""Network rules, compiled once: may this principal reach this host, port and path?

``NetworkPolicy`` answers the egress proxy with a ``Verdict`` for each CONNECT and
each request it can see. The first rule in manifest order that matches the host,
the principal, the port, the method and the path decides; a rule with a ``rate``
then counts the request, per run, in a sliding window on the injected clock.

A run may also hold ``HostGrant``s: hosts (with ports and, optionally, methods) a
human granted that run beyond its manifest through an escalation. They are asked
for, through the ``grants`` callable, only when the manifest's rules refuse, and
only for the requesting principal's own run; a grant that matches allows the
request under the rule name ``escalation.<approval id>``. A grant never matches an
IP literal, and lets its host resolve to a private address only when the manifest
already lets that very host do so, so SSRF protection still applies.

A denial names what stopped the request at the first check nothing passed, in that
order: host, principal, port, method, path. ``rule 'github' allows GET, HEAD, not
POST`` means some rule let this principal reach the host and port, and none of them
allows the method. Only the host and IP-literal checks are left to ``_ssrf``.

Paths are compared after the query is dropped, escaped unreserved characters are
decoded, empty segments are collapsed and dot segments are resolved (``..;`` too, as
Tomcat reads it), so that ``/repos/../admin`` cannot pass for ``/repos/**``. A path
holding ``%2F``, ``%5C`` or a backslash cannot be compared safely (servers disagree on
it), so rules with path globs never match it.

Pure and synchronous: no I/O, time from the clock it is given. One lock guards the
rate windows, because the proxy calls from its own thread.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from enclosure._clock import SystemClock
from enclosure.manifest import AGENT, host_matches, parse_rate
from enclosure.policy import SlidingWindows

if TYPE_CHECKING:
    from collections.abc import Iterable

    from enclosure.manifest import NetworkRule, NetworkSpec
    from enclosure.types import Clock

__all__ = [
    "Grants",
    "HostGrant",
    "NetworkPolicy",
    "Principal",
    "Verdict",
    "glob_pattern",
    "host_ip",
    "normalise_host",
    "normalise_path",
]

ALLOWED = "allowed"
DENIED = "E-EGRESS-DENIED"
RATE = "E-EGRESS-RATE"

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
_UNSAFE = re.compile(r"\\|%2[fF]|%5[cC]")
_SHOWN = 200
"""Longest host or path quoted in a reason."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: a tool of a run, or the run's agent program."""

    run_id: str
    name: str
    """A tool name, or ``AGENT``."""
    call_id: str | None = None
    """The tool call that made the request, if any."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the proxy does with one CONNECT or request, and why (for the 403 body)."""

    allowed: bool
    rule: str | None
    """The deciding rule, or the nearest one when a denied request matched a host."""
    reason: str
    """One line, for the 403 body and the log."""
    code: str
    """``allowed``, ``E-EGRESS-DENIED`` or ``E-EGRESS-RATE``."""
    inspect: bool = False
    """CONNECT only: terminate TLS, because some matching rule needs to see inside."""
    credential: str | None = None
    """Request only: the credential to inject."""
    allow_private: bool = False
    """The deciding rule(s) let the host resolve to a non-public address."""
    retry_after_s: float | None = None
    """``E-EGRESS-RATE`` only: seconds until the rule's window has room again."""


@dataclass(frozen=True, slots=True)
class HostGrant:
    """A host one run may reach beyond its manifest: a granted escalation."""

    name: str
    """``escalation.<approval id>``: named in verdicts and the log."""
    host: str
    """Normalised: exact, or ``*.suffix`` (never an IP literal)."""
    ports: frozenset[int]
    methods: frozenset[str] = frozenset()
    """Empty: every method."""
    allow_private: bool = False
    """Only when a manifest rule naming this host allows private addresses."""

    def admits(self, host: str, port: int, method: str | None) -> bool:
        """Whether this grant covers ``host:port`` (and ``method``, once known)."""
        return (
            host_ip(host) is None
            and host_matches(self.host, host)
            and port in self.ports
            and (method is None or not self.methods or method in self.methods)
        )


Grants = Callable[[str], Sequence[HostGrant]]
"""The host grants of a run, by run id; must not raise (none when in doubt)."""


@functools.lru_cache(maxsize=1024)
def host_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a bare host (no brackets) spells, or None for a name.

    Names are told apart without an exception: ``ipaddress`` reads only digits
    and dots as IPv4, and nothing without a colon as IPv6.

    >>> host_ip("2001:db8::1")
    IPv6Address('2001:db8::1')
    >>> host_ip("api.example.com") is None
    True

    Pure, so its answers are cached (addresses are immutable).
    """
    if ":" not in host and not host.replace(".", "").isdigit():
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def normalise_host(host: str) -> str:
    """Lower case, no trailing dot, no brackets; IP literals in canonical form.

    >>> normalise_host("[2001:DB8::0001].")
    '2001:db8::1'
    """
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    address = host_ip(host)
    return host if address is None else str(address)


def _decode_unreserved(text: str) -> str:
    if "%" not in text:  # the common case: nothing is escaped
        return text

    def one(m: re.Match[str]) -> str:
        char = chr(int(m[1], 16))
        return char if char in _UNRESERVED else m[0].upper()

    return _ESCAPE.sub(one, text)


def normalise_path(target: str) -> str | None:
    """The path a rule's globs are matched against, or None if it is unsafe to.

    >>> normalise_path("/repos/x/..;/../%61dmin//users/./?q=1")
    '/admin/users/'
    >>> normalise_path("/repos/x%2F..%2F..%2Fadmin") is None
    True
    """
    path = target.partition("?")[0].partition("#")[0] or "/"
    if not path.startswith("/") or _UNSAFE.search(path):
        return None
    segments: list[str] = []
    raw = _decode_unreserved(path).split("/")
    for segment in raw:
        core = segment.partition(";")[0]
        if core == "..":
            if segments:
                segments.pop()
        elif core not in {"", "."}:
            segments.append(segment)
    trailing = bool(segments) and raw[-1].partition(";")[0] in {"", ".", ".."}
    return "/" + "/".join(segments) + ("/" if trailing else "")


def glob_pattern(glob: str) -> re.Pattern[str]:
    """Compile a path glob: ``*`` within one segment, ``**`` across segments.

    ``/a/**/b`` also matches ``/a/b``, and ``/a/**`` also matches ``/a``.

    >>> bool(glob_pattern("/repos/*/issues").fullmatch("/repos/x/issues"))
    True
    >>> bool(glob_pattern("/repos/*").fullmatch("/repos/x/issues"))
    False
    """
    glob = _decode_unreserved(glob)
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("/**/", i):
            out.append("/(?:.*/)?")
            i += 4
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("(?:/.*)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _shown(text: str) -> str:
    """A client-supplied host or path, safe to put in a one-line reason."""
    # Every whitespace character but the space is unprintable: one C-speed test
    # covers the usual text, the loop the rest.
    if len(text) <= _SHOWN and text.isprintable() and " " not in text:
        return text
    text = "".join(c if c.isprintable() and not c.isspace() else "?" for c in text)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _who(who: Principal) -> str:
    return "the agent" if who.name == AGENT else f"tool '{who.name}'"


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    key: str
    """The rate bucket's name: by position, since two rules may share a name."""
    spec: NetworkRule
    globs: tuple[re.Pattern[str], ...]
    rate: tuple[int, float] | None
    methods: frozenset[str]
    """Empty: any method."""
    ports: frozenset[int]

    def reaches(self, host: str, *, literal: bool) -> bool:
        # A wildcard never matches an IP literal: *.0.0.1 must not open 127.0.0.1.
        if literal and self.spec.host.startswith("*."):
            return False
        return host_matches(self.spec.host, host)

    def admits(self, who: Principal) -> bool:
        return not self.spec.tools or who.name in self.spec.tools

    def path_ok(self, path: str | None) -> bool:
        if not self.globs:
            return True
        return path is not None and any(g.fullmatch(path) for g in self.globs)


def _allow(names: list[_Rule], what: str, values: Iterable[object], got: str) -> str:
    """``rule 'a' allows GET, not POST`` or ``rules 'a', 'b' allow ...``."""
    union = ", ".join(dict.fromkeys(str(v) for v in values))
    if len(names) == 1:
        return f"rule '{names[0].name}' allows {what}{union}, not {got}"
    quoted = ", ".join(f"'{r.name}'" for r in names)
    return f"rules {quoted} allow {what}{union}, not {got}"


def _deny(rule: str | None, reason: str) -> Verdict:
    return Verdict(allowed=False, rule=rule, reason=reason, code=DENIED)


class NetworkPolicy:
    """The ``network`` section of one manifest, compiled; shared by a run's bindings.

    Args:
        spec: the manifest's ``network`` section.
        clock: time for the rate windows; the system clock when None.
        grants: a run's host grants, asked for only when the rules refuse.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        *,
        clock: Clock | None = None,
        grants: Grants | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._grants = grants
        self._rules = tuple(
            _Rule(
                name=spec.rule_name(i),
                key=f"network.rules[{i}]",
                spec=rule,
                globs=tuple(glob_pattern(p) for p in rule.paths),
                rate=parse_rate(rule.rate) if rule.rate else None,
                methods=frozenset(rule.methods),
                ports=frozenset(rule.ports),
            )
            for i, rule in enumerate(spec.rules)
        )
        self._literals = frozenset(r.host for r in spec.rules if r.is_ip)
        """The IP-literal hosts rules name (normalised by the manifest)."""
        self._windows = SlidingWindows()
        self._lock = threading.Lock()

    def is_literal_allowed(self, host: str) -> bool:
        """Whether some rule names the IP address ``host`` (the SSRF check asks)."""
        return normalise_host(host) in self._literals

    def connect(self, who: Principal, host: str, port: int) -> Verdict:
        """Decide a CONNECT tunnel to ``host:port``.

        Allowed when some rule matches the host, the principal and the port. When
        any of those rules inspects (methods, paths or a credential), ``inspect`` is
        set and every request inside is decided by ``request``; otherwise the
        first matching rule's rate counts this tunnel as one request.
        """
        host = normalise_host(host)
        found = self._match(who, host, port, literal=host_ip(host) is not None)
        if isinstance(found, Verdict):
            return self._granted(who, host, port, None, found)
        first = found[0]
        inspect = any(r.spec.inspects for r in found)
        if not inspect and (limited := self._over_rate(who, first, "tunnels")):
            return limited
        return Verdict(
            allowed=True,
            rule=first.name,
            reason=f"rule '{first.name}' allows {_shown(host)}:{port}",
            code=ALLOWED,
            inspect=inspect,
            allow_private=any(r.spec.allow_private for r in found),
        )

    def request(
        self,
        who: Principal,
        method: str,
        host: str,
        port: int,
        path: str,
        *,
        scheme: str,
        literal: bool | None = None,
    ) -> Verdict:
        """Decide one HTTP request (plain, or inside an inspected tunnel).

        ``path`` is the request target's path; a query string is ignored. The
        deciding rule's rate counts the request. A rule with a credential allows
        plain ``http`` only when it also allows private addresses: a secret is
        not sent in clear text across the internet.

        ``literal`` says whether ``host`` is an IP literal when the caller has
        normalised the host already (``parse_authority`` has); when None, the
        host is normalised here.
        """
        if literal is None:
            host = normalise_host(host)
            literal = host_ip(host) is not None
        normal = normalise_path(path)
        found = self._match(
            who, host, port, literal=literal, method=method, path=(path, normal)
        )
        if isinstance(found, Verdict):
            return self._granted(who, host, port, method, found)
        rule = found[0]
        if rule.spec.credential and scheme != "https" and not rule.spec.allow_private:
            return _deny(
                rule.name,
                f"rule '{rule.name}' injects credential '{rule.spec.credential}' "
                f"over https only, not {_shown(scheme)}",
            )
        if limited := self._over_rate(who, rule, "requests"):
            return limited
        return Verdict(
            allowed=True,
            rule=rule.name,
            reason=f"rule '{rule.name}' allows {_shown(method)} {_shown(host)}"
            f"{_shown(normal or path)}",
            code=ALLOWED,
            credential=rule.spec.credential,
            allow_private=rule.spec.allow_private,
        )

    def _granted(
        self,
        who: Principal,
        host: str,
        port: int,
        method: str | None,
        denial: Verdict,
    ) -> Verdict:
        """The verdict of the run's first grant covering the request, else ``denial``.

        ``method`` is None for a CONNECT: a grant limited to some methods then
        needs to see inside the tunnel (``inspect``).
        """
        if self._grants is None:
            return denial
        for grant in self._grants(who.run_id):
            if grant.admits(host, port, method):
                shown = f"{_shown(method)} " if method else ""
                return Verdict(
                    allowed=True,
                    rule=grant.name,
                    reason=f"{grant.name} grants {shown}{_shown(host)}:{port} "
                    "to this run",
                    code=ALLOWED,
                    inspect=method is None and bool(grant.methods),
                    allow_private=grant.allow_private,
                )
        return denial

    def _match(
        self,
        who: Principal,
        host: str,
        port: int,
        *,
        literal: bool,
        method: str | None = None,
        path: tuple[str, str | None] | None = None,
    ) -> list[_Rule] | Verdict:
        """Every rule passing each check in turn, or the denial at the first failure.

        The checks, in order: host, principal, port, then method and path when
        given. A denial names the first rule that passed the checks before.
        """
        rules = [r for r in self._rules if r.reaches(host, literal=literal)]
        if not rules:
            return _deny(None, f"no rule allows host {_shown(host)}")
        passing = [r for r in rules if r.admits(who)]
        if not passing:
            return _deny(
                rules[0].name, f"no rule lets {_who(who)} reach {_shown(host)}"
            )
        rules, passing = passing, [r for r in passing if port in r.ports]
        if not passing:
            ports = (p for r in rules for p in r.spec.ports)
            return _deny(rules[0].name, _allow(rules, "port ", ports, str(port)))
        if method is not None:
            rules = passing
            passing = [r for r in rules if not r.methods or method in r.methods]
            if not passing:
                methods = (m for r in rules for m in r.spec.methods)
                denial = _allow(rules, "", methods, _shown(method))
                return _deny(rules[0].name, denial)
        if path is not None:
            raw, normal = path
            rules, passing = passing, [r for r in passing if r.path_ok(normal)]
            if not passing:
                return _deny(rules[0].name, _path_denial(rules, raw, normal))
        return passing

    def _over_rate(self, who: Principal, rule: _Rule, unit: str) -> Verdict | None:
        """Count one use of ``rule`` by this run, or say why it is over its rate."""
        if rule.rate is None:
            return None
        limit, window_s = rule.rate
        bucket = (rule.key, who.run_id)
        with self._lock:
            now = self._clock.monotonic()
            check = self._windows.check(bucket, limit, window_s, now)
            if check.allowed:
                self._windows.hit(bucket, now)
                return None
        return Verdict(
            allowed=False,
            rule=rule.name,
            reason=f"rule '{rule.name}' allows at most {limit} {unit} "
            f"per {window_s:g} s",
            code=RATE,
            retry_after_s=max(check.retry_after_s, 0.0),
        )


def _path_denial(rules: list[_Rule], raw: str, normal: str | None) -> str:
    if normal is None:
        return (
            f"path {_shown(raw)} is not normalised (it holds %2F, %5C or a "
            f"backslash, or does not start with /), so rule '{rules[0].name}' "
            "cannot check it"
        )
    globs = (p for r in rules for p in r.spec.paths)
    return _allow(rules, "paths ", globs, _shown(normal))
