import pytest

from enclosure.shadow import NONE, Action, compare, wilson


def test_wilson_stays_in_bounds_and_handles_zero():
    assert wilson(0, 0).rate is None
    i = wilson(10, 10)
    assert i.rate == 1.0
    assert 0.69 < i.low < 0.73
    assert i.high == pytest.approx(1.0)
    assert wilson(95, 100).low == pytest.approx(0.8883, abs=1e-3)


def test_compare_counts_agreement_false_missed_and_argument_differences():
    proposed = [
        Action("c1", "refund", {"amount": 10}),
        Action("c2", "refund", {"amount": 99}),
        Action("c3", "email", {"to": "a"}),
    ]
    actual = [
        Action("c1", "refund", {"amount": 10}),
        Action("c2", "refund", {"amount": 50}),
        Action("c3", NONE, {}),
        Action("c4", "email", {"to": "b"}),
        Action("c9", "email", {}),
    ]
    r = compare(proposed, actual, ran={"c1", "c2", "c3", "c4", "c5"})
    assert r.cases == 4  # c9 never ran in shadow
    assert r.agreed == 1
    assert r.unmatched_cases == 1  # c5 ran with no outcome
    assert r.false_count == 1
    assert r.missed_count == 1
    assert r.arg_diff_count == 1
    assert r.arg_diffs[0].arg == "amount"
    refund = r.actions["refund"]
    assert (refund.tp, refund.fp, refund.fn, refund.args_differ) == (2, 0, 0, 1)
    assert refund.agreement.rate == 0.5
    email = r.actions["email"]
    assert email.precision.rate == 0.0
    assert email.recall.rate == 0.0
