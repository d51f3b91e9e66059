from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enclosure.policy import Condition, ConditionError, ConditionSyntaxError

ACTIVATION = {
    "args": {
        "to": "ann@corp.com",
        "amount": 250,
        "price": 9.5,
        "tags": ["urgent", "billing"],
        "zero": 0,
        "nested": {"k": "v"},
        "nothing": None,
    },
    "run": {"calls": 3, "denials": 1, "cost": 2.5, "tool_calls": {"send": 2}},
    "tool": {"name": "send", "effect": "write", "mode": "live", "cost": 0.5},
    "context": {"source": "email", "ticket": {"priority": "high"}},
}


# --- the fast path for `true` ------------------------------------------------------


@pytest.mark.parametrize("source", ["true", " true", "true\n"])
def test_true_needs_no_program_and_no_variables(source):
    condition = Condition(source)
    assert condition._program is None
    assert condition.test({}) is True
    assert condition.value({}) is True


def test_other_constant_conditions_are_compiled():
    condition = Condition("false")
    assert condition._program is not None
    assert condition.test({}) is False


def test_repr_shows_the_source():
    assert repr(Condition("args.amount > 100")) == "Condition('args.amount > 100')"
    assert Condition("args.amount > 100").source == "args.amount > 100"


# --- conditions over the four variables -------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('args.to.endsWith("@corp.com")', True),
        ("args.amount > 100", True),
        ("args.amount > 1000", False),
        ("args.price >= 9.5", True),
        ('"urgent" in args.tags', True),
        ("size(args.tags) == 2", True),
        ("has(args.missing)", False),
        ("args.nothing == null", True),
        ('args.nested.k == "v"', True),
        ("run.calls == 3 && run.denials < 2", True),
        ('run.tool_calls["send"] > 1', True),
        ('tool.effect == "write" && tool.cost < 1.0', True),
        ('context.ticket.priority == "high"', True),
        ('context.source in ["email", "chat"]', True),
        ("false || args.amount == 250", True),
        ("false && args.missing > 1", False),
    ],
)
def test_conditions_read_args_run_tool_and_context(source, expected):
    assert Condition(source).test(ACTIVATION) is expected


# --- value versus test --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("args.to", "ann@corp.com"),
        ("args.amount", 250),
        ("args.amount * 2", 500),
        ("args.tags", ["urgent", "billing"]),
        ("args.amount > 1", True),
    ],
)
def test_value_returns_the_raw_result(source, expected):
    assert Condition(source).value(ACTIVATION) == expected


@pytest.mark.parametrize("source", ["args.to", "args.amount", "args.tags", "null"])
def test_test_refuses_a_result_that_is_not_a_boolean(source):
    with pytest.raises(ConditionError):
        Condition(source).test(ACTIVATION)


# --- evaluation errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("args.missing > 1", id="missing-key"),
        pytest.param('context.thread.id == "x"', id="missing-nested-key"),
        pytest.param("nope > 1", id="undefined-variable"),
        pytest.param("args.to + 1 == 2", id="type-error"),
        pytest.param("args.to > 1", id="comparison-across-types"),
        pytest.param("args.amount / args.zero > 1", id="division-by-zero"),
        pytest.param("args.amount % args.zero == 0", id="modulo-by-zero"),
        pytest.param("args.tags[5] == 'x'", id="index-out-of-range"),
        pytest.param("9223372036854775807 + args.amount > 0", id="overflow"),
        pytest.param("int(args.to) > 0", id="bad-conversion"),
        pytest.param('args.to.matches("[")', id="bad-regex"),
        pytest.param("args.nothing.x == 1", id="field-of-null"),
    ],
)
def test_evaluation_errors_raise_condition_error_with_the_cause_chained(source):
    with pytest.raises(ConditionError) as info:
        Condition(source).test(ACTIVATION)
    assert info.value.__cause__ is not None
    assert "\n" not in str(info.value)


def test_an_activation_without_the_variable_is_an_evaluation_error():
    with pytest.raises(ConditionError):
        Condition("args.amount > 1").test({})


# --- syntax errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["args.x >", "(((", "foo(", "a b", "", "  ", "1 +", "args.x = 1", "'open"],
)
def test_syntax_errors_raise_a_one_line_value_error(source):
    with pytest.raises(ConditionSyntaxError) as info:
        Condition(source)
    assert isinstance(info.value, ValueError)
    assert str(info.value)
    assert "\n" not in str(info.value)


# --- no expression escapes with anything but the two documented errors -------------

_TOKENS = st.sampled_from(
    [
        "args", "run", "tool", "context", ".", "to", "amount", "tags", "(", ")",
        "[", "]", "{", "}", ":", ",", "+", "-", "*", "/", "%", "==", "!=", "<",
        ">", "&&", "||", "!", "?", "1", "0", "1.5", '"s"', "true", "false",
        "null", "size", "has", "in", "int", "matches", "exists", "all", "map",
        " ", "1u", "dyn", "type", "'",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(st.lists(_TOKENS, max_size=10).map("".join), st.text(max_size=20)))
def test_any_text_compiles_or_not_and_evaluates_or_not_but_never_escapes(source):
    try:
        condition = Condition(source)
    except ConditionSyntaxError:
        return
    try:
        result = condition.test(ACTIVATION)
    except ConditionError:
        return
    assert isinstance(result, bool)
