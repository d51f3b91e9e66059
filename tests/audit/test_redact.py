import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enclosure._json import canonical_json
from enclosure.audit import REDACTED, Redactor

AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "a1B2" * 9
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXBhcnQ"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nqwerty==\n"
    "-----END RSA PRIVATE KEY-----"
)

FORMATS = [
    ("aws_access_key", AWS),
    ("aws_access_key", "ASIAY34FZKBOKMUTVV7A"),
    ("github_token", GITHUB),
    ("github_token", "gho_" + "Z" * 36),
    ("github_token", "github_pat_11ABCDEFG0" + "x" * 60),
    ("slack_token", "xoxb-1234567890-0987654321-AbCdEfGhIjKl"),
    ("slack_token", "xoxp-1234567890-abcdef"),
    ("openai_key", "sk-" + "A1b2C3d4" * 6),
    ("openai_key", "sk-proj-" + "Q" * 40),
    ("anthropic_key", "sk-ant-api03-" + "z9" * 40),
    ("stripe_key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
    ("stripe_key", "rk_live_" + "abcdefghij12"),
    ("stripe_key", "sk_test_" + "abcdefghij12"),
    ("google_api_key", "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ("jwt", JWT),
    ("private_key", PEM),
]


@pytest.mark.parametrize(("kind", "secret"), FORMATS, ids=[f[1][:12] for f in FORMATS])
def test_every_credential_format_is_replaced_by_its_kind(kind, secret):
    text = f"config: {secret} (do not share)"
    assert Redactor().redact_text(text) == f"config: [REDACTED:{kind}] (do not share)"


@pytest.mark.parametrize(("kind", "secret"), FORMATS, ids=[f[1][:12] for f in FORMATS])
def test_every_credential_format_is_seen_by_the_json_probe(kind, secret):
    assert kind
    redactor = Redactor()
    assert redactor.may_change(canonical_json({"v": f"x {secret}"}).decode())


def test_a_private_key_cut_short_is_redacted_to_the_end():
    cut = PEM[:60]
    assert Redactor().redact_text(f"key: {cut}") == "key: [REDACTED:private_key]"


def test_bearer_tokens_keep_the_scheme_word():
    text = "Authorization: Bearer abc.DEF-123_456~xyz"
    assert Redactor().redact_text(text) == "Authorization: Bearer [REDACTED:bearer]"
    assert Redactor().redact_text("bearer\tabcdefghijk") == "bearer\t[REDACTED:bearer]"


def test_url_passwords_are_replaced_and_user_and_host_kept():
    text = "postgres://app:hunter2-Pa55@db.internal:5432/prod and https://example.com/x"
    assert Redactor().redact_text(text) == (
        "postgres://app:[REDACTED:url_password]@db.internal:5432/prod"
        " and https://example.com/x"
    )


def test_formats_glued_to_a_preceding_word_are_left_alone():
    redactor = Redactor()
    assert redactor.redact_text("task-abcdefghijklmnopqrstuvwxyz") == (
        "task-abcdefghijklmnopqrstuvwxyz"
    )
    assert redactor.redact_text("x" + AWS) == "x" + AWS


def test_known_secrets_are_replaced_anywhere_inside_strings():
    redactor = Redactor(["hunter2-long"])
    redactor.add_secret("s3cr3t-token-value")
    value = {"note": "pw=hunter2-long;tok=s3cr3t-token-value!", "n": 1}
    assert redactor.redact(value) == {
        "note": f"pw={REDACTED};tok={REDACTED}!",
        "n": 1,
    }


def test_a_user_name_that_is_a_known_secret_is_replaced_too():
    text = "https://hunter2-long:pw123456@host"
    assert Redactor(["hunter2-long"]).redact_text(text) == (
        f"https://{REDACTED}:[REDACTED:url_password]@host"
    )


def test_short_known_secrets_are_ignored():
    redactor = Redactor(["abc", "12345"])
    assert redactor.redact_text("abc 12345 abcdef") == "abc 12345 abcdef"


def test_the_longest_known_secret_wins():
    redactor = Redactor(["secret", "secret-and-more"])
    assert redactor.redact_text("x secret-and-more y") == f"x {REDACTED} y"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "passwd",
        "secret",
        "client_secret",
        "token",
        "github_token",
        "access_token",
        "api_key",
        "x-api-key",
        "apikey",
        "access_key",
        "aws_secret_access_key",
        "private_key",
        "Authorization",
        "Proxy-Authorization",
        "cookie",
        "Set-Cookie",
    ],
)
def test_values_under_sensitive_keys_are_replaced_wholesale(key):
    value = {"outer": [{key: {"nested": 123}, "other": "kept"}]}
    assert Redactor().redact(value) == {"outer": [{key: REDACTED, "other": "kept"}]}
    assert Redactor().may_change(canonical_json(value).decode())


@pytest.mark.parametrize("key", ["max_tokens", "token_count", "public_key", "author"])
def test_similar_but_harmless_keys_are_kept(key):
    assert Redactor().redact({key: 5}) == {key: 5}


def test_a_none_under_a_sensitive_key_stays_none():
    assert Redactor().redact({"password": None}) == {"password": None}


def test_secrets_in_dict_keys_are_replaced():
    assert Redactor(["hunter2-long"]).redact({"hunter2-long": 1}) == {REDACTED: 1}


def test_redaction_returns_a_copy_and_leaves_the_input_alone():
    value = {"a": [AWS, {"password": "x"}], "b": "plain"}
    before = copy.deepcopy(value)
    redacted = Redactor().redact(value)
    assert value == before
    assert redacted["a"][0] == "[REDACTED:aws_access_key]"
    assert redacted["b"] is value["b"]


def test_a_value_without_secrets_is_returned_as_is():
    value = {"a": ["plain text", 1, None, True, 2.5], "b": {"c": "more text"}}
    assert Redactor(["hunter2-long"]).redact(value) is value


def test_scalars_pass_through():
    redactor = Redactor()
    for scalar in (None, True, 3, 2.5):
        assert redactor.redact(scalar) is scalar


def test_repr_never_shows_the_secrets():
    redactor = Redactor(["hunter2-long", "another-secret"])
    assert "hunter2" not in repr(redactor)
    assert "another" not in repr(redactor)
    assert "2 known secrets" in repr(redactor)


def test_the_json_probe_finds_known_secrets_as_json_escapes_them():
    secret = 'quo"te\nnew-line'
    redactor = Redactor([secret])
    assert redactor.may_change(canonical_json({"v": f"x{secret}y"}).decode())


def test_the_json_probe_finds_many_known_secrets():
    redactor = Redactor([f"secret-number-{n:02d}" for n in range(10)])
    assert redactor.may_change(canonical_json(["a secret-number-07"]).decode())
    assert not redactor.may_change(canonical_json(["a secret-number-"]).decode())


def test_the_json_probe_says_no_for_ordinary_events():
    value = {"to": "a@example.com", "subject": "hello", "max_tokens": 10}
    assert not Redactor(["hunter2-long"]).may_change(canonical_json(value).decode())


# Values built from pieces that do (and nearly do) trigger redaction, so the property
# below exercises the probe's edges: escapes, glued prefixes, keys in any case.
PIECES = [
    "",
    " ",
    "\n",
    "\t",
    '"',
    "\\",
    "x",
    "é",
    "\u212a",  # the Kelvin sign, which lower-cases to "k"
    "task-",
    "Bearer",
    "bearer",
    "abcdefgh12",
    "://u:p@",
    "AKIA",
    "IOSFODNN7EXAMPLE",
    "ghp_",
    "a" * 20,
    "sk-",
    "sk_live_",
    "eyJ",
    "eyJa.b.c",
    ".",
    "-----BEGIN PRIVATE KEY-----",
    "hunter2-long",
    'ab"cdef',
    AWS,
    JWT,
]
KEYS = [
    "a",
    "password",
    "Github-TOKEN",
    "x_api-key",
    "apiKey",
    "max_tokens",
    "api_\u212aey",
]
texts = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
keys = st.one_of(st.sampled_from(KEYS), texts)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_when_the_json_probe_says_no_redaction_changes_nothing(value):
    redactor = Redactor(["hunter2-long", 'ab"cdef'])
    if not redactor.may_change(canonical_json(value).decode()):
        assert redactor.redact(value) is value
