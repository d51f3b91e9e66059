import pytest

from enclosure.audit import EgressEvent, ResultEvent, RunStartedEvent, UsageEvent
from enclosure.manifest import DetectorsSpec
from enclosure.monitor import build_detectors
from enclosure.monitor._detectors import observe_all
from enclosure.testing import decision_event


def _det(**spec):
    return build_detectors(DetectorsSpec.model_validate(spec), {}, {})


def _result(n, *, ok=True, cost=0.0):
    return ResultEvent(
        run_id="run-1", ts="t", call_id=f"c{n}", tool="t",
        disposition="executed" if ok else "failed", latency_us=1, cost=cost,
    )  # fmt: skip


def test_call_rate_spike_against_the_runs_own_baseline():
    d = _det(call_rate={"factor": 3, "window": 10, "min_calls": 5, "baseline": 30})
    found, now = [], 0.0
    for n in range(40):  # one call every 2 s: 5 per window
        found += observe_all(d, decision_event(n), now)
        now += 2
    assert found == []
    for n in range(20):  # then 20 calls in a second
        found += observe_all(d, decision_event(100 + n), now + n / 20)
    assert [f.detector for f in found] == ["call_rate"]
    assert "earlier rate" in found[0].message


def test_new_tool_and_host_only_after_a_baseline_run():
    seen_tools = {"billing": {"lookup"}}
    d = build_detectors(
        DetectorsSpec.model_validate({"new_tool": {"kill": True}, "new_host": {}}),
        seen_tools,
        {"billing": {"api.example.com"}},
    )
    start = RunStartedEvent(run_id="run-1", ts="t", agent="billing", task="x",
                            manifest_sha256="m")  # fmt: skip
    assert observe_all(d, start, 0) == []
    assert observe_all(d, decision_event(1, tool="lookup", agent="billing"), 0) == []
    found = observe_all(d, decision_event(2, tool="wire_money", agent="billing"), 0)
    assert [(f.detector, f.kill) for f in found] == [("new_tool", True)]
    again = decision_event(3, tool="wire_money", agent="billing")
    assert observe_all(d, again, 0) == []
    egress = EgressEvent(run_id="run-1", ts="t", principal="agent", method="GET",
                         scheme="https", host="evil.example", port=443, path="/",
                         status=200, outcome="allowed")  # fmt: skip
    assert [f.detector for f in observe_all(d, egress, 0)] == ["new_host"]
    newcomer = decision_event(4, tool="anything", agent="fresh", run_id="run-9")
    assert observe_all(d, newcomer, 0) == []  # no earlier run: learn silently


def test_cost_burn_denial_burst_repeats_and_error_streak():
    d = _det(
        cost_burn={"max_per_minute": 1.0, "window": 60},
        denials={"max": 3, "window": 60},
        repeated_calls={"max": 3, "window": 60},
        error_streak={"max": 2},
    )
    usage = UsageEvent(run_id="run-1", ts="t", model="m", input_tokens=1,
                       output_tokens=1, cost=0.6)  # fmt: skip
    assert observe_all(d, usage, 0) == []
    assert [f.detector for f in observe_all(d, usage, 1)] == ["cost_burn"]
    blocked = [
        decision_event(n, disposition="blocked", args_sha256=f"{n:064d}")
        for n in range(3)
    ]
    found = [f.detector for e in blocked for f in observe_all(d, e, 2)]
    assert found == ["denials"]
    same = [decision_event(n) for n in range(3)]
    assert [f.detector for e in same for f in observe_all(d, e, 3)] == [
        "repeated_calls"
    ]
    assert observe_all(d, _result(1, ok=False), 4) == []
    assert observe_all(d, _result(2, ok=True), 4) == []
    assert observe_all(d, _result(3, ok=False), 4) == []
    assert [f.detector for f in observe_all(d, _result(4, ok=False), 4)] == [
        "error_streak"
    ]


# --- each detector at its threshold and one step below -------------------------------
# Time is the ``now`` handed to ``observe``: the detectors read no clock of their own.


def _fired(detectors, events_at):
    """Feed ``(event, now)`` pairs; the detector names of every finding, in order."""
    return [f.detector for e, now in events_at for f in observe_all(detectors, e, now)]


def _steady(run_id, per_second, seconds):
    """``per_second`` calls each second for ``seconds`` seconds from t=0."""
    return [
        (decision_event(n, run_id=run_id), n / per_second)
        for n in range(per_second * seconds)
    ]


def _burst(run_id, count, at):
    return [(decision_event(10_000 + n, run_id=run_id), at) for n in range(count)]


CALL_RATE = {"factor": 2, "window": 10, "min_calls": 1, "baseline": 20}
# 1 call/s for 30 s, then a burst at t=40: by then the run has 30 s of history
# before the window, so its baseline is 30 calls / 30 s = 10 per 10 s window, and
# the burst fires once it holds more than 2 x 10 = 20 calls.


def test_call_rate_holds_at_factor_times_the_baseline():
    d = _det(call_rate=CALL_RATE)
    assert _fired(d, _steady("r", 1, 30) + _burst("r", 20, at=40)) == []


def test_call_rate_fires_one_call_past_it_and_once_per_spike():
    d = _det(call_rate=CALL_RATE)
    assert _fired(d, _steady("r", 1, 30) + _burst("r", 21, at=40)) == ["call_rate"]
    assert _fired(d, _burst("r", 5, at=40)) == []  # re-armed: a new baseline


def test_call_rate_needs_min_calls_in_the_window():
    d = _det(call_rate={**CALL_RATE, "min_calls": 25})
    events = _steady("r", 1, 30) + _burst("r", 25, at=40)
    fired_at = [i for i, (e, now) in enumerate(events, 1) if observe_all(d, e, now)]
    assert fired_at == [30 + 25]  # the 21st is past the factor, the 25th enough


def test_call_rate_waits_for_a_baseline():
    d = _det(call_rate=CALL_RATE)
    # The same burst 25 s in: only 15 s of history before the window (< 20 s).
    assert _fired(d, _steady("r", 1, 15) + _burst("r", 50, at=25)) == []


def test_call_rate_compares_each_run_with_its_own_rate():
    d = _det(call_rate=CALL_RATE)
    slow, fast = _steady("slow", 1, 30), _steady("fast", 3, 30)
    events = sorted(slow + fast, key=lambda pair: pair[1])
    events += _burst("slow", 21, at=40) + _burst("fast", 21, at=40)
    found = [f for e, now in events for f in observe_all(d, e, now)]
    assert [f.run_id for f in found] == ["slow"]  # fast's baseline is 30 per window


COST_BURN = {"max_per_minute": 1.0, "window": 60}


def _usage(cost, run_id="run-1"):
    return UsageEvent(run_id=run_id, ts="t", model="m", input_tokens=1,
                      output_tokens=1, cost=cost)  # fmt: skip


def test_cost_burn_holds_at_the_limit_and_fires_past_it():
    d = _det(cost_burn=COST_BURN)
    assert _fired(d, [(_usage(0.5), 0), (_usage(0.5), 10)]) == []  # 1.0 per minute
    found = observe_all(d, _usage(0.25), 20)
    assert [(f.detector, f.kill) for f in found] == [("cost_burn", False)]
    assert "1.25 per minute, over 1" in found[0].message


def test_cost_burn_forgets_spend_older_than_its_window():
    d = _det(cost_burn=COST_BURN)
    assert _fired(d, [(_usage(0.75), 0), (_usage(0.75), 60)]) == []
    d = _det(cost_burn=COST_BURN)
    assert _fired(d, [(_usage(0.75), 0), (_usage(0.75), 59.5)]) == ["cost_burn"]


def test_cost_burn_counts_results_and_simulations_not_plans():
    d = _det(cost_burn={"max_per_minute": 0.5, "window": 60})
    planned = decision_event(1, cost=1.0)  # dispatched: its result carries the cost
    assert _fired(d, [(planned, 0)]) == []
    assert _fired(d, [(_result(2, cost=1.0), 0)]) == ["cost_burn"]
    simulated = decision_event(3, cost=1.0, disposition="simulated")
    assert _fired(d, [(simulated, 1)]) == ["cost_burn"]


def _denied(n, run_id="run-1"):
    return decision_event(n, run_id=run_id, disposition="blocked", outcome="deny",
                          args_sha256=f"{n:064d}")  # fmt: skip


def test_denials_fire_at_max_within_the_window_and_not_below():
    d = _det(denials={"max": 3, "window": 60})
    assert _fired(d, [(_denied(1), 0), (_denied(2), 30)]) == []
    assert _fired(d, [(_denied(3), 59.5)]) == ["denials"]
    d = _det(denials={"max": 3, "window": 60})
    assert _fired(d, [(_denied(1), 0), (_denied(2), 30), (_denied(3), 60)]) == []


def test_denials_count_only_blocked_calls_of_one_run():
    d = _det(denials={"max": 2, "window": 60})
    allowed = decision_event(1, args_sha256="1" * 64)
    events = [(allowed, 0), (_denied(2, "run-a"), 0), (_denied(3, "run-b"), 0)]
    assert _fired(d, events) == []
    assert _fired(d, [(_denied(4, "run-b"), 1)]) == ["denials"]


def test_repeated_calls_fire_at_max_identical_calls_and_not_below():
    d = _det(repeated_calls={"max": 3, "window": 60})
    same = [(decision_event(n), n) for n in range(2)]
    other_args = (decision_event(5, args_sha256="f" * 64), 2)
    other_tool = (decision_event(6, tool="lookup"), 2)
    assert _fired(d, [*same, other_args, other_tool]) == []
    found = observe_all(d, decision_event(7), 3)
    assert [f.detector for f in found] == ["repeated_calls"]
    assert "3 identical calls to 'send_email'" in found[0].message
    assert _fired(d, [(decision_event(8), 4)]) == []  # counting starts again


def test_repeated_calls_spread_wider_than_the_window_do_not_fire():
    d = _det(repeated_calls={"max": 2, "window": 10})
    assert _fired(d, [(decision_event(1), 0), (decision_event(2), 10)]) == []
    assert _fired(d, [(decision_event(3), 19.9)]) == ["repeated_calls"]


@pytest.mark.parametrize("streak", [1, 2, 5])
def test_error_streak_fires_at_max_failures_in_a_row(streak):
    d = _det(error_streak={"max": streak})
    fails = [(_result(n, ok=False), 0) for n in range(streak - 1)]
    assert _fired(d, fails) == []
    assert _fired(d, [(_result(99, ok=False), 0)]) == ["error_streak"]


def test_a_success_or_another_run_breaks_the_streak():
    d = _det(error_streak={"max": 2})
    other_run = _result(2, ok=False).model_copy(update={"run_id": "run-2"})
    events = [(_result(1, ok=False), 0), (other_run, 0), (_result(3), 0)]
    assert _fired(d, [*events, (_result(4, ok=False), 0)]) == []


@pytest.mark.parametrize(
    ("spec", "events"),
    [
        ({"denials": {"max": 1, "kill": True}}, [_denied(1)]),
        ({"repeated_calls": {"max": 1, "kill": True}}, [decision_event(1)]),
        ({"error_streak": {"max": 1, "kill": True}}, [_result(1, ok=False)]),
        ({"cost_burn": {"max_per_minute": 0.1, "kill": True}}, [_usage(1.0)]),
    ],
    ids=["denials", "repeated_calls", "error_streak", "cost_burn"],
)
def test_kill_is_carried_on_the_finding(spec, events):
    d = _det(**spec)
    found = [f for e in events for f in observe_all(d, e, 0)]
    assert [f.kill for f in found] == [True]
    gentle = _det(**{name: {**value, "kill": False} for name, value in spec.items()})
    assert [f.kill for f in observe_all(gentle, events[0], 0)] == [False]
