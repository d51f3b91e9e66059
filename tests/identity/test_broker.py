import base64
import importlib
import json
import re
import sys
import textwrap
import threading
import traceback
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from enclosure.egress._rules import Principal
from enclosure.errors import CredentialError
from enclosure.identity import (
    CommandSource,
    CredentialBroker,
    RunTokens,
    Secret,
    encoded_forms,
    load_source,
    verify_token,
)
from enclosure.manifest import CredentialSpec, Injection
from enclosure.testing import FakeClock

KEY = bytes(range(32))
TOOL = Principal("run-1", "fetch_invoice", "call-1")
AGENT = Principal("run-1", "agent")
BEARER = {"header": "Authorization", "format": "Bearer {secret}"}


def cred(source: str, *, ttl: float = 60, tools=(), **inject) -> CredentialSpec:
    return CredentialSpec(
        source=source,
        inject=Injection(**(inject or BEARER)),
        ttl=ttl,
        tools=list(tools),
    )


def write_plugin(tmp_path: Path, monkeypatch, body: str) -> str:
    module = f"plugin_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, module, None)
    del sys.modules[module]
    importlib.invalidate_caches()
    return module


def py(code: str) -> str:
    return f"command:{sys.executable} -c {code!r}"


@pytest.fixture
def clock():
    return FakeClock()


# --- materialise ---------------------------------------------------------------------


def test_secrets_are_fetched_just_in_time_and_cached_for_the_ttl(clock, monkeypatch):
    monkeypatch.delenv("BROKER_TEST_KEY", raising=False)
    broker = CredentialBroker({"api": cred("env:BROKER_TEST_KEY", ttl=30)}, clock=clock)
    monkeypatch.setenv("BROKER_TEST_KEY", "first-value")
    secret = broker.materialise("api", TOOL, host="api.test")
    assert (secret.name, secret.value) == ("api", "first-value")
    assert secret.expires == clock.monotonic() + 30
    monkeypatch.setenv("BROKER_TEST_KEY", "second-value")
    clock.advance(29.9)
    assert broker.materialise("api", AGENT, host="other.test") is secret
    clock.advance(0.1)
    assert broker.materialise("api", TOOL, host="api.test").value == "second-value"


def test_the_cache_is_per_run(clock, monkeypatch):
    monkeypatch.setenv("BROKER_TEST_KEY", "run-one-value")
    broker = CredentialBroker({"api": cred("env:BROKER_TEST_KEY")}, clock=clock)
    broker.materialise("api", TOOL, host="api.test")
    monkeypatch.setenv("BROKER_TEST_KEY", "run-two-value")
    other = broker.materialise("api", Principal("run-2", "agent"), host="api.test")
    assert other.value == "run-two-value"


def test_principals_outside_the_credential_tools_are_refused(clock, monkeypatch):
    monkeypatch.setenv("BROKER_TEST_KEY", "scoped-value")
    broker = CredentialBroker(
        {"api": cred("env:BROKER_TEST_KEY", tools=["fetch_invoice", "pay"])},
        clock=clock,
    )
    assert broker.materialise("api", TOOL, host="api.test").value == "scoped-value"
    with pytest.raises(CredentialError) as caught:
        broker.materialise("api", AGENT, host="api.test")
    assert caught.value.code == "E-CREDENTIAL-SCOPE"
    assert caught.value.message == "credential api is for fetch_invoice, pay, not agent"


def test_unknown_credentials_are_unavailable(clock):
    broker = CredentialBroker({}, clock=clock)
    with pytest.raises(CredentialError) as caught:
        broker.materialise("nope", TOOL, host="api.test")
    assert caught.value.code == "E-CREDENTIAL-UNAVAILABLE"
    assert caught.value.message == "no credential named nope"


def test_broken_plugins_fail_when_the_broker_is_built(clock):
    with pytest.raises(CredentialError, match="cannot import"):
        CredentialBroker({"v": cred("plugin:enclosure_no_such_plugin:x")}, clock=clock)


def test_revoking_a_run_forgets_refuses_and_revokes_its_tokens(clock, monkeypatch):
    monkeypatch.setenv("BROKER_TEST_KEY", "revoked-value")
    tokens = RunTokens(KEY, clock=clock)
    broker = CredentialBroker(
        {"api": cred("env:BROKER_TEST_KEY"), "svc": cred("token:svc")},
        tokens=tokens,
        clock=clock,
    )
    broker.materialise("api", TOOL, host="api.test")
    token = broker.materialise("svc", TOOL, host="svc.test").value
    broker.revoke_run("run-1")
    assert broker._cache == {}
    for name in ("api", "svc"):
        with pytest.raises(CredentialError) as caught:
            broker.materialise(name, TOOL, host="api.test")
        assert caught.value.code == "E-CREDENTIAL-REVOKED"
    assert tokens.is_revoked("run-1")
    with pytest.raises(CredentialError) as refused:
        tokens.verify(token, audience="svc")
    assert refused.value.code == "E-TOKEN-REVOKED"
    other = Principal("run-2", "agent")
    assert broker.materialise("api", other, host="api.test").value == "revoked-value"
    assert broker.strip(b"x revoked-value") == b"x [REDACTED:api]"


def test_token_credentials_are_minted_per_principal_call_and_host(clock):
    tokens = RunTokens(KEY, clock=clock)
    broker = CredentialBroker(
        {"svc": cred("token:billing", ttl=60)}, tokens=tokens, clock=clock
    )
    first = broker.materialise("svc", TOOL, host="API.billing.test")
    claims = verify_token(
        first.value,
        key=KEY,
        audience="billing",
        host="api.billing.test",
        tool="fetch_invoice",
        revoked=tokens.is_revoked,
        clock=clock,
    )
    assert (claims["run"], claims["call"], claims["sub"]) == (
        "run-1",
        "call-1",
        "fetch_invoice",
    )
    assert claims["exp"] - claims["iat"] == 60
    assert broker.materialise("svc", TOOL, host="api.billing.test") is first
    assert broker.materialise("svc", TOOL, host="eu.billing.test") is not first
    next_call = Principal("run-1", "fetch_invoice", "call-2")
    assert broker.materialise("svc", next_call, host="api.billing.test") is not first
    clock.advance(30)  # half the ttl: a token handed out always has half its life
    renewed = broker.materialise("svc", TOOL, host="api.billing.test")
    assert renewed.value != first.value
    assert broker.strip(first.value.encode()) == b"[REDACTED:svc]"


def test_a_broker_without_tokens_makes_its_own(clock):
    broker = CredentialBroker({"svc": cred("token:billing")}, clock=clock)
    token = broker.materialise("svc", AGENT, host="api.test").value
    assert (
        broker.tokens.verify(token, audience="billing", tool="agent")["sub"] == "agent"
    )


def test_concurrent_requests_fetch_a_secret_once(tmp_path, monkeypatch, clock):
    module = write_plugin(
        tmp_path,
        monkeypatch,
        """
        import threading

        class Slow:
            def __init__(self):
                self.calls = 0
                self.entered = threading.Event()
                self.release = threading.Event()

            def fetch(self, name, spec):
                self.calls += 1
                self.entered.set()
                assert self.release.wait(5)
                return "slow-secret-value"
        """,
    )
    broker = CredentialBroker({"slow": cred(f"plugin:{module}:Slow")}, clock=clock)
    source: Any = broker._sources["slow"]
    results: list[Secret] = []

    def ask():
        results.append(broker.materialise("slow", TOOL, host="api.test"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert source.entered.wait(5)
    source.release.set()
    for thread in threads:
        thread.join(5)
    assert len(results) == 8
    assert {id(r) for r in results} == {id(results[0])}
    assert source.calls == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("return 'line\\r\\nX-Evil: 1'", "the value holds a control character"),
        ("return 'nul\\x00byte'", "the value holds a control character"),
        ("return b'bytes'", "its source returned bytes, not text"),
        ("return ''", "its source returned an empty value"),
        ("raise KeyError('no such path')", "its source raised KeyError"),
    ],
)
def test_bad_source_values_are_refused(tmp_path, monkeypatch, clock, body, fragment):
    module = write_plugin(
        tmp_path,
        monkeypatch,
        f"""
        class Bad:
            def fetch(self, name, spec):
                {body}
        """,
    )
    broker = CredentialBroker({"bad": cred(f"plugin:{module}:Bad")}, clock=clock)
    with pytest.raises(CredentialError) as caught:
        broker.materialise("bad", TOOL, host="api.test")
    assert caught.value.code == "E-CREDENTIAL-UNAVAILABLE"
    assert caught.value.message.startswith(f"credential bad: {fragment}")
    assert caught.value.__context__ is None


def test_a_plugin_credential_error_passes_through_with_its_code(
    tmp_path, monkeypatch, clock
):
    module = write_plugin(
        tmp_path,
        monkeypatch,
        """
        from enclosure.errors import CredentialError

        class Locked:
            def fetch(self, name, spec):
                raise CredentialError("vault is sealed", code="E-VAULT-SEALED")
        """,
    )
    broker = CredentialBroker({"v": cred(f"plugin:{module}:Locked")}, clock=clock)
    with pytest.raises(CredentialError, match="vault is sealed") as caught:
        broker.materialise("v", TOOL, host="api.test")
    assert caught.value.code == "E-VAULT-SEALED"


def test_secret_repr_and_str_hide_the_value():
    secret = Secret("api", "hidden-value-123", Injection(header="X-Key"), 1.0)
    assert repr(secret) == str(secret) == "Secret('api', value=[REDACTED])"
    assert f"{secret}" == "Secret('api', value=[REDACTED])"


# --- apply ---------------------------------------------------------------------------


def secret_for(value: str, **inject) -> Secret:
    return Secret("api", value, Injection(**inject), 0.0)


def test_header_injection_formats_and_replaces_what_the_client_sent():
    headers = [(b"host", b"api.test"), (b"authorization", b"Bearer fake"), (b"a", b"b")]
    secret = secret_for("tok-123", header="Authorization", format="Bearer {secret}")
    new, target = CredentialBroker({}).apply(secret, headers, "/x?y=1")
    assert new == [
        (b"host", b"api.test"),
        (b"a", b"b"),
        (b"Authorization", b"Bearer tok-123"),
    ]
    assert target == "/x?y=1"
    assert headers[1] == (b"authorization", b"Bearer fake")  # input untouched


def test_header_format_with_other_braces_is_not_str_format():
    secret = secret_for("k{0}", header="X-Api-Key", format="{x} key={secret}")
    new, _ = CredentialBroker({}).apply(secret, [(b"X-API-KEY", b"mine")], "/")
    assert new == [(b"X-Api-Key", b"{x} key=k{0}")]


def test_basic_auth_replaces_any_authorization_header():
    secret = secret_for("pa:ss wörd", basic_username="bot")
    new, _ = CredentialBroker({}).apply(
        secret, [(b"Authorization", b"Basic Zm9vOmJhcg=="), (b"accept", b"*/*")], "/"
    )
    expected = base64.b64encode("bot:pa:ss wörd".encode())
    assert new == [(b"accept", b"*/*"), (b"Authorization", b"Basic " + expected)]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/v1/items", "/v1/items?key=a%2Fb%26c%3Dd%20e"),
        ("/v1/items?", "/v1/items?key=a%2Fb%26c%3Dd%20e"),
        ("/v1?page=2&key=mine&k=1", "/v1?page=2&k=1&key=a%2Fb%26c%3Dd%20e"),
        ("/v1?ke%79=mine&key", "/v1?key=a%2Fb%26c%3Dd%20e"),
        (
            "http://api.test/v1?x=%20#frag",
            "http://api.test/v1?x=%20&key=a%2Fb%26c%3Dd%20e#frag",
        ),
    ],
)
def test_query_injection_replaces_the_parameter_and_encodes_the_value(target, expected):
    secret = secret_for("a/b&c=d e", query="key")
    headers = [(b"host", b"api.test")]
    new, rewritten = CredentialBroker({}).apply(secret, headers, target)
    assert rewritten == expected
    assert new == headers


# --- strip ---------------------------------------------------------------------------

TRICKY = 'ü?>~Tok/en+"42&x y'  # base64 holds "/" and padding; the pair's holds "+"


@pytest.fixture
def stripping(clock, monkeypatch):
    monkeypatch.setenv("BROKER_TRICKY", TRICKY)
    monkeypatch.setenv("BROKER_PLAIN", "plain-secret-0042")
    broker = CredentialBroker(
        {
            "api": cred("env:BROKER_TRICKY", basic_username="bot"),
            "other": cred("env:BROKER_PLAIN"),
        },
        clock=clock,
    )
    broker.materialise("api", TOOL, host="api.test")
    broker.materialise("other", TOOL, host="api.test")
    return broker


def b64_forms(raw: bytes) -> list[bytes]:
    std, url = base64.b64encode(raw), base64.urlsafe_b64encode(raw)
    return [std, url, std.rstrip(b"="), url.rstrip(b"=")]


def test_strip_replaces_raw_base64_percent_and_json_forms(stripping):
    raw = TRICKY.encode()
    forms = [
        raw,
        *b64_forms(raw),
        quote(TRICKY, safe="").encode(),
        re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(TRICKY)).encode(),
        quote(TRICKY).encode(),
        quote_plus(TRICKY, safe="").encode(),
        json.dumps(TRICKY)[1:-1].encode(),
        *b64_forms(b"bot:" + raw),
    ]
    assert len(set(forms)) >= 12
    for form in forms:
        assert stripping.strip(b"<" + form + b">") == b"<[REDACTED:api]>", form


def test_strip_finds_base64_at_any_alignment_in_a_longer_text(stripping):
    for prefix in range(6):
        blob = base64.b64encode(b"p" * prefix + b'{"k": "' + TRICKY.encode() + b'"}')
        stripped = stripping.strip(blob)
        assert b"[REDACTED:api]" in stripped, prefix


def test_strip_labels_each_secret_and_leaves_other_bytes(stripping):
    data = b'{"a": "plain-secret-0042", "b": "' + TRICKY.encode() + b'", "c": 1}'
    assert stripping.strip(data) == (
        b'{"a": "[REDACTED:other]", "b": "[REDACTED:api]", "c": 1}'
    )
    assert stripping.strip(b"nothing here") == b"nothing here"


def test_strip_without_materialised_secrets_returns_the_data():
    data = b"plain-secret-0042"
    assert CredentialBroker({}).strip(data) is data
    assert CredentialBroker({}).secrets() == []


def test_secrets_lists_every_form_longest_first(stripping):
    listed = stripping.secrets()
    assert TRICKY in listed
    assert "plain-secret-0042" in listed
    assert [len(s) for s in listed] == sorted((len(s) for s in listed), reverse=True)
    assert set(listed) == {
        f.decode()
        for f in encoded_forms(TRICKY, Injection(basic_username="bot"))
        | encoded_forms("plain-secret-0042")
    }


def test_short_encoded_forms_are_not_stripped_but_the_raw_value_is():
    forms = encoded_forms("abc")
    assert forms == {b"abc"}


# --- the leak sweep ------------------------------------------------------------------

CANARY = "LEAKCANARY-q7Zp-q7Zp-q7Zp-q7Zp"

LEAKY_PLUGIN = f"""
class Good:
    def fetch(self, name, spec):
        return {CANARY!r}

class Raising:
    def fetch(self, name, spec):
        raise ValueError("upstream said " + {CANARY!r})

class Bytes:
    def fetch(self, name, spec):
        return {CANARY!r}.encode()

class Control:
    def fetch(self, name, spec):
        return {CANARY!r} + "\\r\\nX: 1"

class Angry:
    def __init__(self):
        raise RuntimeError({CANARY!r})
    def fetch(self, name, spec):
        return ""
"""


# Commands read the secret from the environment, so that no argv (which is manifest
# text, shown in reprs) holds it.
CMD = "import os, sys, time; value = os.environ['LEAK_CMD']"


def exception_texts(exc: BaseException) -> list[str]:
    """The formatted traceback, and str/repr/args/attributes along the chain."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        texts += [str(link), repr(link), repr(link.args), repr(vars(link))]
        link = link.__cause__ or link.__context__
    return texts


def test_no_secret_reaches_an_error_or_a_repr(tmp_path, monkeypatch, clock):
    module = write_plugin(tmp_path, monkeypatch, LEAKY_PLUGIN)
    monkeypatch.setenv("LEAK_ENV", CANARY)
    monkeypatch.setenv("LEAK_CMD", CANARY)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(CANARY + "\n", encoding="utf-8")
    tokens = RunTokens(KEY, clock=clock)
    specs = {
        "env": cred("env:LEAK_ENV", ttl=10),
        "file": cred(f"file:{secret_file}", ttl=10),
        "cmd": cred(py(f"{CMD}; print(value)"), ttl=10, query="key"),
        "plugin": cred(f"plugin:{module}:Good", ttl=10, basic_username="u"),
        "token": cred("token:svc", ttl=1000),
        "scoped": cred("env:LEAK_ENV", tools=["someone_else"]),
        "raising": cred(f"plugin:{module}:Raising"),
        "bytes": cred(f"plugin:{module}:Bytes"),
        "control": cred(f"plugin:{module}:Control"),
        "failing_cmd": cred(
            py(f"{CMD}; print(value); print(value, file=sys.stderr); sys.exit(2)")
        ),
        "killed_cmd": cred(
            py(f"{CMD}; print(value, flush=True); os.kill(os.getpid(), 9)")
        ),
        "binary_cmd": cred(
            py(f"{CMD}; sys.stdout.buffer.write(value.encode() + b'\\xfe')")
        ),
    }
    broker = CredentialBroker(specs, tokens=tokens, clock=clock)
    materialised = [
        broker.materialise(name, TOOL, host="api.test")
        for name in ("env", "file", "cmd", "plugin", "token")
    ]
    values = [CANARY, materialised[-1].value]
    assert [s.value for s in materialised[:4]] == [CANARY] * 4

    failures: list[BaseException] = []

    def fails(action, code="E-CREDENTIAL-UNAVAILABLE"):
        with pytest.raises(CredentialError) as caught:
            action()
        assert caught.value.code == code, caught.value
        failures.append(caught.value)

    def ask(name, who=TOOL):
        return lambda: broker.materialise(name, who, host="api.test")

    for name in (
        "raising",
        "bytes",
        "control",
        "failing_cmd",
        "killed_cmd",
        "binary_cmd",
    ):
        fails(ask(name))
    fails(ask("scoped"), "E-CREDENTIAL-SCOPE")
    fails(ask("nope"))
    # the token is a secret too: its refusals never quote it
    token = materialised[-1].value
    fails(lambda: tokens.verify(token, audience="other"), "E-TOKEN-SCOPE")
    fails(lambda: tokens.verify(token + "x", audience="svc"), "E-TOKEN-INVALID")
    # the sources change under a live run: env gone, file not text, then empty
    clock.advance(11)
    monkeypatch.setenv("LEAK_ENV", CANARY + "\x1b")
    fails(ask("env"))
    monkeypatch.delenv("LEAK_ENV")
    fails(ask("env"))
    secret_file.write_bytes(CANARY.encode() + b"\xff")
    fails(ask("file"))
    secret_file.write_bytes(b"\n")
    fails(ask("file"))
    for target in ("Angry", "Missing"):
        fails(lambda t=target: load_source(cred(f"plugin:{module}:{t}")))
    slow = CommandSource(
        (
            sys.executable,
            "-c",
            f"{CMD}; print(value, flush=True); time.sleep(60)",
        ),
        timeout_s=0.3,
    )
    fails(lambda: slow.fetch("slow", specs["cmd"]))
    broker.revoke_run("run-1")
    fails(lambda: tokens.verify(token, audience="svc"), "E-TOKEN-REVOKED")
    fails(ask("plugin"), "E-CREDENTIAL-REVOKED")
    clock.advance(3600)
    fails(
        lambda: verify_token(token, key=KEY, audience="svc", clock=clock),
        "E-TOKEN-EXPIRED",
    )

    assert len(failures) == 20
    texts = [t for exc in failures for t in exception_texts(exc)]
    texts += [repr(s) for s in materialised] + [str(s) for s in materialised]
    texts += [repr(broker), repr(tokens)] + [repr(s) for s in broker._sources.values()]
    for value in values:
        for text in texts:
            assert value not in text
    # and what goes back to the sandbox is clean
    for secret in materialised:
        headers, target = broker.apply(secret, [], "/p")
        echoed = repr(headers).encode() + target.encode()
        assert CANARY.encode() not in broker.strip(echoed)
        assert token.encode() not in broker.strip(echoed)
