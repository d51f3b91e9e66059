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
