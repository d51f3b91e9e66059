from __future__ import annotations

from collections import deque

from enclosure.policy import RunState, SlidingWindows


def new_state(**kwargs) -> RunState:
    return RunState(
        run_id="run-1", agent="bot", task="pay invoices", started=100.0, **kwargs
    )


def test_a_new_run_state_starts_at_zero():
    state = new_state()
    assert (state.calls, state.executed, state.simulated, state.pending) == (0, 0, 0, 0)
    assert (state.denials, state.errors, state.consecutive_errors) == (0, 0, 0)
    assert state.cost == 0.0
    assert state.tool_calls == {}
    assert isinstance(state.windows, SlidingWindows)
    assert state.recent == deque()
    assert state.killed is None
    assert state.model is None


def test_run_states_do_not_share_mutable_defaults():
    a, b = new_state(), new_state()
    a.tool_calls["send"] = 1
    a.recent.append((1.0, "sig"))
    a.windows.hit(("r", ""), 1.0)
    assert b.tool_calls == {}
    assert b.recent == deque()
    assert b.windows.check(("r", ""), 1, 60.0, 1.0).used == 0


def test_run_states_compare_by_identity():
    assert new_state() != new_state()


def test_snapshot_is_what_conditions_see_as_run():
    state = new_state(model="gpt-x")
    state.calls, state.executed, state.simulated, state.pending = 7, 4, 1, 1
    state.denials, state.errors, state.consecutive_errors = 2, 1, 1
    state.cost = 3.5
    state.tool_calls = {"send": 5, "search": 2}
    assert state.snapshot(now=160.0) == {
        "id": "run-1",
        "agent": "bot",
        "task": "pay invoices",
        "model": "gpt-x",
        "calls": 7,
        "executed": 4,
        "simulated": 1,
        "pending": 1,
        "denials": 2,
        "errors": 1,
        "consecutive_errors": 1,
        "cost": 3.5,
        "elapsed_s": 60.0,
        "tool_calls": {"send": 5, "search": 2},
    }


def test_snapshot_gives_an_empty_model_when_none_is_known():
    assert new_state().snapshot(now=100.0)["model"] == ""


def test_snapshot_elapsed_time_uses_the_time_passed_in():
    state = new_state()
    assert state.snapshot(now=100.0)["elapsed_s"] == 0.0
    assert state.snapshot(now=190.5)["elapsed_s"] == 90.5


def test_snapshot_is_a_copy_that_cannot_change_the_state():
    state = new_state()
    state.tool_calls["send"] = 1
    snapshot = state.snapshot(now=100.0)
    snapshot["tool_calls"]["send"] = 99
    snapshot["calls"] = 99
    assert state.tool_calls == {"send": 1}
    assert state.calls == 0
