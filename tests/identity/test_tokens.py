import base64
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from enclosure.egress._rules import Principal
from enclosure.errors import CredentialError, UsageError
from enclosure.identity import RunTokens, TokenRefused, verify_token
from enclosure.testing import FakeClock

KEY = bytes(range(32))
TOOL = Principal("run-1", "fetch_invoice", "call-9")


@pytest.fixture
def clock():
    return FakeClock(epoch=1_790_000_000.25)


@pytest.fixture
def tokens(clock):
    return RunTokens(KEY, clock=clock)


def mint(tokens, who=TOOL, **kwargs):
    options = {"audience": "billing-api", "hosts": ["api.billing.test"], "ttl_s": 60}
    return tokens.mint(who, **(options | kwargs))


def refused(token, *, clock, key=KEY, audience="billing-api", **kwargs):
    with pytest.raises(TokenRefused) as caught:
        verify_token(token, key=key, audience=audience, clock=clock, **kwargs)
    assert "\n" not in str(caught.value)
    assert caught.value.reason == caught.value.message
    return caught.value


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_minted_token_carries_run_principal_call_scope_and_expiry(tokens, clock):
    token = mint(tokens)
    claims = verify_token(
        token,
        key=KEY,
        audience="billing-api",
        host="api.billing.test",
        tool="fetch_invoice",
        clock=clock,
    )
    assert claims == {
        "iss": "enclosure",
        "sub": "fetch_invoice",
        "run": "run-1",
        "call": "call-9",
        "aud": "billing-api",
        "hosts": ["api.billing.test"],
        "tools": ["fetch_invoice"],
        "iat": 1_790_000_000,
        "exp": 1_790_000_061,
        "jti": claims["jti"],
    }
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"typ": "JWT", "alg": "HS256"}
    assert mint(tokens) != token  # a fresh jti each time


def test_agent_token_has_no_call_claim_and_tools_can_be_given(tokens, clock):
    token = mint(tokens, Principal("run-1", "agent"), tools=["agent", "search"])
    claims = tokens.verify(token, audience="billing-api", tool="search")
    assert "call" not in claims
    assert claims["tools"] == ["agent", "search"]


def test_token_expires_at_exp_on_the_injected_clock(tokens, clock):
    token = mint(tokens, ttl_s=10)  # exp = ceil(now + 10) = now + 10.75
    clock.advance(10.5)
    assert tokens.verify(token, audience="billing-api")["sub"] == "fetch_invoice"
    clock.advance(0.25)
    error = refused(token, clock=clock)
    assert error.code == "E-TOKEN-EXPIRED"
    assert error.reason == "token expired 0 s ago"
    clock.advance(100)
    assert refused(token, clock=clock).reason == "token expired 100 s ago"
    claims = verify_token(
        token, key=KEY, audience="billing-api", clock=clock, leeway_s=120
    )
    assert claims["run"] == "run-1"


def test_token_issued_in_the_future_is_invalid(clock):
    early = RunTokens(KEY, clock=FakeClock(epoch=clock.time() + 3600))
    error = refused(mint(early), clock=clock)
    assert (error.code, error.reason) == (
        "E-TOKEN-INVALID",
        "token was issued in the future",
    )


def test_revoked_run_tokens_are_refused_and_no_more_are_minted(tokens, clock):
    token = mint(tokens)
    other = mint(tokens, Principal("run-2", "fetch_invoice"))
    tokens.revoke("run-1")
    assert tokens.is_revoked("run-1")
    assert not tokens.is_revoked("run-2")
    error = refused(token, clock=clock, revoked=tokens.is_revoked)
    assert error.code == "E-TOKEN-REVOKED"
    with pytest.raises(TokenRefused) as caught:
        tokens.verify(token, audience="billing-api")
    assert caught.value.code == "E-TOKEN-REVOKED"
    assert tokens.verify(other, audience="billing-api")["run"] == "run-2"
    with pytest.raises(CredentialError) as caught_mint:
        mint(tokens)
    assert caught_mint.value.code == "E-CREDENTIAL-REVOKED"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"audience": "other-api"}, "token is for another audience"),
        ({"host": "evil.test"}, "token does not cover this host"),
        ({"host": "sub.api.billing.test"}, "token does not cover this host"),
        ({"tool": "send_email"}, "token does not cover this tool"),
    ],
)
def test_scope_is_checked_against_audience_host_and_tool(tokens, clock, kwargs, reason):
    error = refused(mint(tokens), clock=clock, **kwargs)
    assert (error.code, error.reason) == ("E-TOKEN-SCOPE", reason)


def test_host_check_normalises_and_accepts_patterns_and_audience_lists(clock):
    tokens = RunTokens(KEY, clock=clock)
    token = mint(tokens, hosts=["API.billing.test", "*.files.test", "::1"])
    for host in ("api.billing.test.", "eu.files.test", "[::1]"):
        assert tokens.verify(token, audience="billing-api", host=host)
    listed = jwt.encode(
        {"alg": "HS256"},
        verify_token(token, key=KEY, audience="billing-api", clock=clock)
        | {"aud": ["a", "billing-api"]},
        OctKey.import_key(KEY),
    )
    assert tokens.verify(listed, audience="billing-api")["aud"] == ["a", "billing-api"]


def flip(text: str, index: int) -> str:
    char = "A" if text[index] != "A" else "B"
    return text[:index] + char + text[index + 1 :]


def test_tampered_tokens_are_invalid(tokens, clock):
    token = mint(tokens)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = ".".join([header, b64(claims | {"hosts": ["evil.test"]}), signature])
    cases = [
        forged,
        ".".join([header, flip(payload, 5), signature]),
        ".".join([header, payload, flip(signature, 3)]),
        ".".join([b64({"alg": "none", "typ": "JWT"}), payload, ""]),
        RunTokens(bytes(32), clock=clock).mint(
            TOOL, audience="billing-api", hosts=["api.billing.test"], ttl_s=60
        ),
        jwt.encode(
            {"alg": "HS512"}, claims, OctKey.import_key(KEY), algorithms=["HS512"]
        ),
        "not a token",
        "a.b.c",
        "",
        token + "." + signature,
    ]
    for case in cases:
        error = refused(case, clock=clock)
        assert error.code == "E-TOKEN-INVALID", case
        assert case not in error.reason or not case


def test_overlong_tokens_are_refused_before_decoding(clock):
    assert refused("x" * 10_000, clock=clock).reason == (
        "token is too long to be a run token"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"iss": "someone"}, "token was issued by someone else"),
        ({"run": None}, "token claim 'run' is missing or not a string"),
        ({"hosts": "api.billing.test"}, "token claim 'hosts' is missing or not a list"),
        ({"exp": "soon"}, "token claim 'exp' is missing or not a number"),
        ({"exp": True}, "token claim 'exp' is missing or not a number"),
        ({"aud": 7}, "token claim 'aud' is missing or malformed"),
        ({"call": 7}, "token claim 'call' is not a string"),
    ],
)
def test_well_signed_tokens_with_bad_claims_are_invalid(tokens, clock, change, reason):
    claims = verify_token(mint(tokens), key=KEY, audience="billing-api", clock=clock)
    claims = {k: v for k, v in (claims | change).items() if v is not None}
    token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(KEY))
    error = refused(token, clock=clock)
    assert error.code == "E-TOKEN-INVALID"
    assert error.reason.startswith(reason)


def test_another_issuer_name_must_be_expected(clock):
    tokens = RunTokens(KEY, issuer="staging", clock=clock)
    token = mint(tokens)
    assert tokens.verify(token, audience="billing-api")["iss"] == "staging"
    assert refused(token, clock=clock).code == "E-TOKEN-INVALID"


def test_generated_keys_are_random_and_hidden_from_repr():
    first, second = RunTokens(), RunTokens()
    assert len(first.key) == 32
    assert first.key != second.key
    assert first.key.hex() not in repr(first)
    assert repr(first) == "RunTokens(issuer='enclosure', key=[REDACTED])"


def test_system_clock_is_the_default():
    tokens = RunTokens(KEY)
    token = mint(tokens)
    claims = verify_token(
        token, key=KEY, audience="billing-api", host="api.billing.test"
    )
    assert claims["exp"] - claims["iat"] in {60, 61}


def test_short_keys_are_a_usage_error(clock):
    with pytest.raises(UsageError, match="at least 32 bytes"):
        RunTokens(b"short")
    with pytest.raises(UsageError):
        verify_token("a.b.c", key=b"short", audience="x", clock=clock)


def test_token_refused_is_a_credential_error_with_a_code():
    error = TokenRefused("E-TOKEN-SCOPE", "token does not cover this host")
    assert isinstance(error, CredentialError)
    assert str(error) == "E-TOKEN-SCOPE: token does not cover this host"
