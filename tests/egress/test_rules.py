from __future__ import annotations

import ipaddress
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enclosure.egress._rules import (
    HostGrant,
    NetworkPolicy,
    Principal,
    Verdict,
    _shown,
    glob_pattern,
    host_ip,
    normalise_host,
    normalise_path,
)
from enclosure.manifest import AGENT, NetworkSpec
from enclosure.testing import FakeClock

TOOL = Principal(run_id="run-1", name="fetch", call_id="call-1")
OTHER_RUN = Principal(run_id="run-2", name="fetch")
AGENT_P = Principal(run_id="run-1", name=AGENT)

GITHUB = {
    "name": "github",
    "host": "api.github.com",
    "methods": ["GET", "HEAD"],
    "paths": ["/repos/**"],
}


def policy(*rules: dict[str, Any], clock: FakeClock | None = None) -> NetworkPolicy:
    spec = NetworkSpec.model_validate({"rules": list(rules)})
    return NetworkPolicy(spec, clock=clock or FakeClock())


def get(
    p: NetworkPolicy,
    path: str = "/",
    *,
    host: str = "api.github.com",
    method: str = "GET",
    port: int = 443,
    who: Principal = TOOL,
    scheme: str = "https",
) -> Verdict:
    return p.request(who, method, host, port, path, scheme=scheme)


# --- hosts ---------------------------------------------------------------------------


def test_a_host_no_rule_names_is_denied_without_a_rule():
    verdict = get(policy(GITHUB), host="evil.com")
    assert verdict == Verdict(
        allowed=False,
        rule=None,
        reason="no rule allows host evil.com",
        code="E-EGRESS-DENIED",
    )


def test_an_allowed_request_names_its_rule():
    verdict = get(policy(GITHUB), "/repos/a/b")
    assert verdict.allowed
    assert verdict.code == "allowed"
    assert verdict.rule == "github"
    assert not verdict.inspect
    assert verdict.credential is None
    assert verdict.retry_after_s is None


@pytest.mark.parametrize(
    "host",
    ["API.GitHub.com", "api.github.com.", " api.github.com ", "[api.github.com]"],
)
def test_hosts_are_normalised_before_matching(host):
    assert get(policy(GITHUB), "/repos/x", host=host).allowed


def test_unnamed_rules_are_called_by_position():
    p = policy({"host": "a.example.com"}, {"host": "b.example.com"})
    assert get(p, host="b.example.com").rule == "rule-2"


def test_a_wildcard_matches_subdomains_only():
    p = policy({"name": "any", "host": "*.example.com"})
    assert get(p, host="api.example.com").allowed
    assert get(p, host="a.b.example.com").allowed
    assert get(p, host="example.com").reason == "no rule allows host example.com"
    assert not get(p, host="evilexample.com").allowed


def test_a_wildcard_never_matches_an_ip_literal():
    p = policy({"name": "odd", "host": "*.0.0.1", "allow_private": True})
    verdict = get(p, host="127.0.0.1")
    assert verdict.reason == "no rule allows host 127.0.0.1"
    assert get(p, host="x.0.0.1").allowed


@pytest.mark.parametrize(
    ("rule_host", "asked"),
    [
        ("::1", "[::1]"),
        ("[2001:db8::1]", "2001:DB8:0::1"),
        ("203.0.113.7", "203.0.113.7"),
    ],
)
def test_ip_literal_hosts_match_in_canonical_form(rule_host, asked):
    p = policy({"host": rule_host})
    assert get(p, host=asked).allowed
    assert p.is_literal_allowed(asked)


def test_is_literal_allowed_needs_a_rule_naming_that_address():
    p = policy({"host": "203.0.113.7"}, {"host": "*.example.com"}, GITHUB)
    assert p.is_literal_allowed("203.0.113.7")
    assert not p.is_literal_allowed("203.0.113.8")
    assert not p.is_literal_allowed("api.github.com")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("[::1]", "::1"),
        ("[2001:DB8::0001]", "2001:db8::1"),
        ("127.000.000.001", "127.000.000.001"),  # not canonical IPv4: left as a name
        ("10.0.0.1", "10.0.0.1"),
    ],
)
def test_normalise_host(host, expected):
    assert normalise_host(host) == expected


# --- principals ----------------------------------------------------------------------


def _reference_ip(host):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1%eth0",
        "2001:db8::1",
        "api.example.com",
        "",
        ".",
        "1.2.3",
        "01.2.3.4",
        "1.2.3.4.5",
        "0x7f.0.0.1",
        "\u0661.1.1.1",  # an Arabic-Indic digit: isdigit(), but no address
        "\u00b2.1.1.1",  # a superscript two, likewise
        "a:b",
    ],
)
def test_host_ip_agrees_with_ipaddress(host):
    assert host_ip(host) == _reference_ip(host)


@given(st.text(alphabet="0123456789abcdef.:%x\u0661 ", max_size=24))
@settings(max_examples=500)
def test_host_ip_agrees_with_ipaddress_everywhere(host):
    assert host_ip(host) == _reference_ip(host)


@pytest.mark.parametrize(
    ("host", "literal"),
    [("api.github.com", False), ("127.0.0.1", True), ("2001:db8::1", True)],
)
def test_a_host_normalised_by_the_caller_is_decided_the_same(host, literal):
    p = policy(GITHUB, {"host": "127.0.0.1"}, {"host": "2001:db8::1"})
    for path in ("/repos/x", "/admin"):
        asked = p.request(TOOL, "GET", host, 443, path, scheme="https")
        told = p.request(TOOL, "GET", host, 443, path, scheme="https", literal=literal)
        assert asked == told


@given(st.text(max_size=250))
def test_shown_text_is_the_same_on_the_fast_path(text):
    slow = "".join(c if c.isprintable() and not c.isspace() else "?" for c in text)
    slow = slow if len(slow) <= 200 else slow[:199] + "…"
    assert _shown(text) == slow


def test_a_rule_without_tools_admits_everyone():
    p = policy({"name": "open", "host": "example.com"})
    assert get(p, host="example.com", who=AGENT_P).allowed
    assert get(p, host="example.com", who=OTHER_RUN).allowed


def test_a_tool_the_rule_does_not_name_is_denied_with_the_nearest_rule():
    p = policy({**GITHUB, "tools": ["search"]})
    verdict = get(p, "/repos/x")
    assert not verdict.allowed
    assert verdict.rule == "github"
    assert verdict.reason == "no rule lets tool 'fetch' reach api.github.com"
    assert verdict.code == "E-EGRESS-DENIED"


def test_the_agent_is_named_as_such():
    p = policy({**GITHUB, "tools": ["fetch"]})
    verdict = get(p, "/repos/x", who=AGENT_P)
    assert verdict.reason == "no rule lets the agent reach api.github.com"
    assert get(policy({**GITHUB, "tools": [AGENT]}), "/repos/x", who=AGENT_P).allowed


def test_a_later_rule_can_admit_a_tool_the_first_does_not():
    p = policy(
        {**GITHUB, "tools": ["search"]},
        {"name": "github-fetch", "host": "api.github.com", "tools": ["fetch"]},
    )
    assert get(p, "/anything").rule == "github-fetch"


# --- ports, methods, paths -----------------------------------------------------------


def test_a_port_the_rule_does_not_list_is_denied():
    verdict = get(policy(GITHUB), "/repos/x", port=8443)
    assert verdict.rule == "github"
    assert verdict.reason == "rule 'github' allows port 443, not 8443"


def test_ports_of_several_rules_are_listed_together():
    p = policy(
        {"name": "a", "host": "example.com", "ports": [443, 8443]},
        {"name": "b", "host": "example.com", "ports": [80, 443]},
    )
    verdict = get(p, host="example.com", port=22)
    assert verdict.rule == "a"
    assert verdict.reason == "rules 'a', 'b' allow port 443, 8443, 80, not 22"


def test_a_method_the_rule_does_not_list_is_denied():
    verdict = get(policy(GITHUB), "/repos/x", method="POST")
    assert verdict.rule == "github"
    assert verdict.reason == "rule 'github' allows GET, HEAD, not POST"


def test_methods_are_case_sensitive():
    verdict = get(policy(GITHUB), "/repos/x", method="get")
    assert verdict.reason == "rule 'github' allows GET, HEAD, not get"


def test_a_rule_without_methods_allows_every_method():
    p = policy({"name": "any", "host": "example.com"})
    for method in ["GET", "POST", "DELETE", "PATCH", "PROPFIND"]:
        assert get(p, host="example.com", method=method).allowed


def test_several_rules_deny_with_the_union_of_their_methods():
    p = policy(
        {"name": "read", "host": "example.com", "methods": ["GET"]},
        {"name": "write", "host": "example.com", "methods": ["POST", "GET"]},
    )
    verdict = get(p, host="example.com", method="PUT")
    assert verdict.rule == "read"
    assert verdict.reason == "rules 'read', 'write' allow GET, POST, not PUT"


def test_the_first_matching_rule_decides():
    p = policy(
        {"name": "read", "host": "example.com", "methods": ["GET"]},
        {
            "name": "write",
            "host": "example.com",
            "methods": ["POST"],
            "credential": "token",
        },
    )
    assert get(p, host="example.com").rule == "read"
    verdict = get(p, host="example.com", method="POST")
    assert verdict.rule == "write"
    assert verdict.credential == "token"


def test_a_path_outside_the_globs_is_denied():
    verdict = get(policy(GITHUB), "/admin")
    assert verdict.rule == "github"
    assert verdict.reason == "rule 'github' allows paths /repos/**, not /admin"


def test_the_query_string_is_not_matched():
    p = policy({**GITHUB, "paths": ["/repos/*/issues"]})
    assert get(p, "/repos/x/issues?state=open&path=/admin").allowed
    assert get(p, "/repos/x/issues#frag").allowed


@pytest.mark.parametrize(
    "path",
    [
        "/repos/../admin",
        "/repos/x/../../admin",
        "/repos/%2e%2e/admin",
        "/repos/%2E./admin",
        "/repos/..;/admin",
        "/repos/x/..;jsessionid=1/../admin",
        "/repos//../admin",
        "/repos/./../admin",
    ],
)
def test_dot_segments_cannot_escape_a_path_glob(path):
    verdict = get(policy(GITHUB), path)
    assert not verdict.allowed
    assert verdict.reason == "rule 'github' allows paths /repos/**, not /admin"


@pytest.mark.parametrize(
    "path",
    ["/repos/x%2F..%2F..%2Fadmin", "/repos/x%2f..", "/repos\\..\\admin", "/repos/%5c"],
)
def test_escaped_slashes_and_backslashes_are_refused_where_paths_are_checked(path):
    verdict = get(policy(GITHUB), path)
    assert not verdict.allowed
    assert verdict.code == "E-EGRESS-DENIED"
    assert verdict.rule == "github"
    assert "is not normalised" in verdict.reason


def test_escaped_slashes_pass_a_rule_that_checks_no_path():
    p = policy({"name": "files", "host": "example.com", "methods": ["GET"]})
    assert get(p, "/a%2Fb", host="example.com").allowed


def test_an_unsafe_path_skips_globbed_rules_for_a_later_open_one():
    p = policy(GITHUB, {"name": "open", "host": "api.github.com"})
    assert get(p, "/repos/a%2Fb").rule == "open"


def test_escaped_unreserved_characters_match_their_plain_form():
    p = policy({**GITHUB, "paths": ["/repos/~me/*"]})
    assert get(p, "/repos/%7Eme/x").allowed
    assert get(policy({**GITHUB, "paths": ["/repos/%7eme"]}), "/repos/~me").allowed


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", "/"),
        ("", "/"),
        ("?q=1", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("/a//b", "/a/b"),
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/../../a", "/a"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/a/%2e%2E/b", "/b"),
        ("/a/%41%7e%2d", "/a/A~-"),
        ("/a/%20%3f", "/a/%20%3F"),
        ("/a;x=1/b", "/a;x=1/b"),
        ("/a/..;x/b", "/b"),
        ("/a/b?x=/../c", "/a/b"),
        ("/a%2Fb", None),
        ("/a%5Cb", None),
        ("/a\\b", None),
        ("*", None),
        ("relative/path", None),
    ],
)
def test_normalise_path(target, expected):
    assert normalise_path(target) == expected


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("/repos/*", "/repos/x", True),
        ("/repos/*", "/repos/", True),
        ("/repos/*", "/repos/x/y", False),
        ("/repos/*/issues", "/repos/x/issues", True),
        ("/repos/*/issues", "/repos/x/y/issues", False),
        ("/repos/**", "/repos", True),
        ("/repos/**", "/repos/x/y/z", True),
        ("/repos/**", "/reposx", False),
        ("/repos/**/issues", "/repos/issues", True),
        ("/repos/**/issues", "/repos/a/b/issues", True),
        ("/repos/**/issues", "/repos/a/b/pulls", False),
        ("/a/**b", "/a/x/yb", True),
        ("/v1.*", "/v1.2", True),
        ("/v1.*", "/v1x2", False),  # "." is literal
        ("/a+b", "/a+b", True),
        ("/a+b", "/aab", False),  # no regex leaks through
        ("/a(b)?", "/a(b)?", True),
        ("/exact", "/exact/", False),
        ("/**", "/", True),
        ("/**", "/anything/at/all", True),
    ],
)
def test_glob_matching(glob, path, matches):
    assert bool(glob_pattern(glob).fullmatch(path)) is matches


def reference_match(glob: str, path: str) -> bool:
    """The glob semantics, written the slow, obvious way."""
    if not glob:
        return not path
    if glob.startswith("/**/") and reference_match(glob[3:], path):
        return True  # /**/ may stand for a single slash
    if glob == "/**" and not path:
        return True  # a trailing /** also matches the folder itself
    if glob.startswith("**"):
        return any(reference_match(glob[2:], path[k:]) for k in range(len(path) + 1))
    if glob[0] == "*":
        return any(
            reference_match(glob[1:], path[k:])
            for k in range(len(path) + 1)
            if "/" not in path[:k]
        )
    return bool(path) and path[0] == glob[0] and reference_match(glob[1:], path[1:])


@settings(max_examples=500, deadline=None, database=None)
@given(
    glob=st.text(alphabet="ab/*.", min_size=1, max_size=10).map(lambda s: "/" + s),
    path=st.text(alphabet="ab/.", max_size=10).map(lambda s: "/" + s),
)
def test_glob_matching_agrees_with_the_reference(glob, path):
    assert bool(glob_pattern(glob).fullmatch(path)) is reference_match(glob, path)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet="ab/.%2eEfF5cC;?\\", max_size=16).map(lambda s: "/" + s))
def test_a_normalised_path_has_no_dot_segments_and_is_stable(target):
    normal = normalise_path(target)
    if normal is None:
        return
    segments = normal.split("/")[1:]
    assert not any(s.partition(";")[0] in {".", ".."} for s in segments)
    assert "//" not in normal
    assert normalise_path(normal) == normal


# --- credentials over plain http -----------------------------------------------------

API = {"name": "api", "host": "api.example.com", "credential": "key"}


def test_a_credential_is_named_for_an_https_request():
    verdict = get(policy(API), host="api.example.com")
    assert verdict.allowed
    assert verdict.credential == "key"


def test_a_credential_is_not_sent_over_plain_http_to_a_public_host():
    verdict = get(policy(API), host="api.example.com", scheme="http", port=443)
    assert not verdict.allowed
    assert verdict.code == "E-EGRESS-DENIED"
    assert (
        verdict.reason
        == "rule 'api' injects credential 'key' over https only, not http"
    )


def test_a_credential_may_go_over_plain_http_to_a_private_service():
    p = policy({**API, "allow_private": True, "ports": [8080]})
    verdict = get(p, host="api.example.com", scheme="http", port=8080)
    assert verdict.allowed
    assert verdict.credential == "key"
    assert verdict.allow_private


# --- CONNECT -------------------------------------------------------------------------


def test_connect_to_a_host_only_rule_is_a_plain_tunnel():
    p = policy({"name": "pypi", "host": "pypi.org"})
    verdict = p.connect(TOOL, "pypi.org", 443)
    assert verdict == Verdict(
        allowed=True,
        rule="pypi",
        reason="rule 'pypi' allows pypi.org:443",
        code="allowed",
    )


def test_connect_inspects_when_any_matching_rule_does():
    p = policy({"name": "plain", "host": "api.github.com"}, GITHUB)
    verdict = p.connect(TOOL, "api.github.com", 443)
    assert verdict.allowed
    assert verdict.rule == "plain"
    assert verdict.inspect


def test_connect_ignores_rules_for_other_principals_when_choosing_to_inspect():
    p = policy(
        {"name": "plain", "host": "api.github.com"},
        {**GITHUB, "tools": ["other"]},
    )
    assert not p.connect(TOOL, "api.github.com", 443).inspect


def test_connect_allows_private_when_any_matching_rule_does():
    p = policy(
        {"name": "a", "host": "internal.example.com"},
        {"name": "b", "host": "internal.example.com", "allow_private": True},
        {"name": "c", "host": "internal.example.com", "ports": [8443]},
    )
    assert p.connect(TOOL, "internal.example.com", 443).allow_private
    assert not p.connect(TOOL, "internal.example.com", 8443).allow_private


def test_connect_is_allowed_before_the_method_is_known():
    p = policy(GITHUB)
    tunnel = p.connect(TOOL, "api.github.com", 443)
    assert tunnel.allowed
    assert tunnel.inspect
    assert not get(p, "/repos/x", method="DELETE").allowed


@pytest.mark.parametrize(
    ("who", "host", "port", "reason"),
    [
        (TOOL, "evil.com", 443, "no rule allows host evil.com"),
        (TOOL, "api.github.com", 22, "rule 'github' allows port 443, not 22"),
        (AGENT_P, "api.github.com", 443, "no rule lets the agent reach api.github.com"),
    ],
)
def test_connect_denials(who, host, port, reason):
    p = policy({**GITHUB, "tools": ["fetch"]})
    verdict = p.connect(who, host, port)
    assert not verdict.allowed
    assert verdict.code == "E-EGRESS-DENIED"
    assert verdict.reason == reason


# --- rate limits ---------------------------------------------------------------------

LIMITED = {"name": "api", "host": "api.example.com", "rate": "3/minute"}


def test_a_rule_allows_its_rate_then_refuses_until_the_window_moves():
    clock = FakeClock()
    p = policy(LIMITED, clock=clock)
    for _ in range(3):
        assert get(p, host="api.example.com").allowed
        clock.advance(10)
    refused = get(p, host="api.example.com")
    assert refused == Verdict(
        allowed=False,
        rule="api",
        reason="rule 'api' allows at most 3 requests per 60 s",
        code="E-EGRESS-RATE",
        retry_after_s=30.0,
    )
    clock.advance(29.5)
    assert not get(p, host="api.example.com").allowed
    clock.advance(0.5)
    assert get(p, host="api.example.com").allowed


def test_rates_count_per_run():
    p = policy({**LIMITED, "rate": "1/minute"})
    assert get(p, host="api.example.com").allowed
    assert not get(p, host="api.example.com").allowed
    assert get(p, host="api.example.com", who=OTHER_RUN).allowed


def test_rates_count_per_rule():
    p = policy(
        {**LIMITED, "rate": "1/minute", "methods": ["GET"]},
        {"name": "writes", "host": "api.example.com", "rate": "1/minute"},
    )
    assert get(p, host="api.example.com").allowed
    assert get(p, host="api.example.com", method="POST").allowed
    assert get(p, host="api.example.com").code == "E-EGRESS-RATE"
    assert get(p, host="api.example.com", method="POST").code == "E-EGRESS-RATE"


def test_rules_sharing_a_name_keep_separate_rates():
    p = policy(
        {**LIMITED, "rate": "1/minute", "methods": ["GET"]},
        {**LIMITED, "rate": "1/minute", "methods": ["POST"]},
    )
    assert get(p, host="api.example.com").allowed
    assert get(p, host="api.example.com", method="POST").allowed


def test_a_denied_request_does_not_use_the_rate():
    p = policy({**LIMITED, "rate": "1/minute", "methods": ["GET"]})
    for _ in range(5):
        assert not get(p, host="api.example.com", method="POST").allowed
    assert get(p, host="api.example.com").allowed


def test_a_plain_tunnel_counts_against_the_rate():
    p = policy({**LIMITED, "rate": "2/10s"})
    assert p.connect(TOOL, "api.example.com", 443).allowed
    assert p.connect(TOOL, "api.example.com", 443).allowed
    refused = p.connect(TOOL, "api.example.com", 443)
    assert refused.code == "E-EGRESS-RATE"
    assert refused.reason == "rule 'api' allows at most 2 tunnels per 10 s"


def test_an_inspected_tunnel_leaves_the_rate_to_its_requests():
    p = policy({**LIMITED, "rate": "1/minute", "methods": ["GET"]})
    for _ in range(3):
        assert p.connect(TOOL, "api.example.com", 443).inspect
    assert get(p, host="api.example.com").allowed
    assert not get(p, host="api.example.com").allowed


def test_the_rate_holds_under_concurrent_callers():
    p = policy({**LIMITED, "rate": "50/minute"})
    start = threading.Barrier(8)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait(timeout=5)
        results = [get(p, host="api.example.com").allowed for _ in range(25)]
        with lock:
            allowed.extend(results)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert len(allowed) == 200
    assert sum(allowed) == 50


def test_the_system_clock_is_the_default():
    spec = NetworkSpec.model_validate({"rules": [{**LIMITED, "rate": "1/hour"}]})
    p = NetworkPolicy(spec)
    assert get(p, host="api.example.com").allowed
    assert get(p, host="api.example.com").code == "E-EGRESS-RATE"


# --- reasons -------------------------------------------------------------------------


def test_reasons_stay_on_one_line_and_short():
    p = policy(GITHUB)
    verdict = get(p, "/admin\r\nX-Evil: 1" + "a" * 500)
    assert "\n" not in verdict.reason
    assert "\r" not in verdict.reason
    assert len(verdict.reason) < 300
    host = get(p, host="evil\ncom").reason
    assert host == "no rule allows host evil?com"


# --- grants (escalations) ------------------------------------------------------------


def granted(*grants: HostGrant, rules: tuple[dict[str, Any], ...] = (GITHUB,)):
    """A policy whose run ``run-1`` holds ``grants``; it records who asked."""
    asked: list[str] = []

    def lookup(run_id: str) -> tuple[HostGrant, ...]:
        asked.append(run_id)
        return grants if run_id == "run-1" else ()

    spec = NetworkSpec.model_validate({"rules": list(rules)})
    return NetworkPolicy(spec, clock=FakeClock(), grants=lookup), asked


EXTRA = HostGrant(name="escalation.apr_1", host="api.extra.com", ports=frozenset({443}))


def test_a_grant_allows_its_host_for_its_run_only_under_its_name():
    p, asked = granted(EXTRA)
    verdict = get(p, host="api.extra.com")
    assert verdict.allowed
    assert (verdict.rule, verdict.code) == ("escalation.apr_1", "allowed")
    assert verdict.reason == "escalation.apr_1 grants GET api.extra.com:443 to this run"
    assert not verdict.allow_private
    assert not get(p, host="api.extra.com", who=OTHER_RUN).allowed
    assert asked == ["run-1", "run-2"]


def test_grants_are_asked_for_only_when_the_rules_refuse():
    p, asked = granted(EXTRA)
    assert get(p, "/repos/x").allowed
    assert p.connect(TOOL, "api.github.com", 443).allowed
    assert asked == []


def test_a_grant_keeps_to_its_ports_and_methods():
    grant = HostGrant(
        name="escalation.apr_2",
        host="api.github.com",
        ports=frozenset({443, 8443}),
        methods=frozenset({"POST"}),
    )
    p, _ = granted(grant)
    assert get(p, "/repos/x", method="POST").rule == "escalation.apr_2"
    assert get(p, "/elsewhere", method="POST", port=8443).allowed
    assert not get(p, "/elsewhere", method="DELETE").allowed
    assert get(p, "/elsewhere", port=8443).reason == (
        "rule 'github' allows port 443, not 8443"
    )
    tunnel = p.connect(TOOL, "api.github.com", 8443)
    assert (tunnel.allowed, tunnel.inspect, tunnel.rule) == (
        True,
        True,
        "escalation.apr_2",
    )


def test_a_wildcard_grant_never_matches_an_ip_literal_and_a_grant_no_address():
    star = HostGrant(name="escalation.apr_3", host="*.0.0.1", ports=frozenset({443}))
    p, _ = granted(star, EXTRA)
    assert not get(p, host="127.0.0.1").allowed
    assert not p.connect(TOOL, "127.0.0.1", 443).allowed
    assert get(p, host="a.0.0.1").allowed


def test_a_grant_passes_on_whether_its_host_may_resolve_privately():
    local = HostGrant(
        name="escalation.apr_4",
        host="localhost",
        ports=frozenset({8080}),
        allow_private=True,
    )
    p, _ = granted(local)
    assert get(p, host="localhost", port=8080, scheme="http").allow_private
    assert p.connect(TOOL, "localhost", 8080).allow_private
