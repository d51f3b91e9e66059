from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from enclosure.errors import ManifestError
from enclosure.manifest import Manifest, manifest_source
from enclosure.models import Decision, ToolCall
from enclosure.policy import (
    CompileProblem,
    Policy,
    PolicyCompileError,
    RunState,
    compile_policy,
)
from enclosure.testing import FakeClock, manifest_from

HEAD = "agent:\n  name: bot\n"


def policy_for(body: str) -> Policy:
    return compile_policy(manifest_from(HEAD + textwrap.dedent(body)))


def new_state(started: float = 0.0) -> RunState:
    return RunState(run_id="run-1", agent="bot", task="test", started=started)


def call(tool: str = "t", context: dict[str, Any] | None = None, **args) -> ToolCall:
    return ToolCall(tool=tool, args=args, context=context or {})


class Harness:
    """A policy, its run state and a fake clock: one run, decided call by call."""

    def __init__(self, body: str) -> None:
        self.policy = policy_for(body)
        self.clock = FakeClock(monotonic=1000.0)
        self.state = new_state(started=self.clock.monotonic())

    def decide(
        self,
        tool: str = "t",
        *,
        approved: bool = False,
        invalid: str | None = None,
        context: dict[str, Any] | None = None,
        **args,
    ) -> Decision:
        return self.policy.decide(
            call(tool, context, **args),
            self.state,
            self.clock.monotonic(),
            approved=approved,
            invalid=invalid,
        )

    def outcomes(self, n: int, tool: str = "t", **kwargs) -> list[str]:
        return [self.decide(tool, **kwargs).outcome for _ in range(n)]


# --- 1. default deny and 2. mode: deny ---------------------------------------------


def test_an_undeclared_tool_is_denied_by_default():
    run = Harness("tools:\n  t: {}\n")
    decision = run.decide("rm_rf", path="/")
    assert (decision.outcome, decision.rule, decision.tool) == (
        "deny",
        "default-deny",
        "rm_rf",
    )
    assert (run.state.calls, run.state.denials) == (1, 1)
    assert run.state.tool_calls == {"rm_rf": 1}


def test_a_manifest_without_tools_denies_everything():
    run = Harness("")
    assert run.decide("anything").rule == "default-deny"


def test_tool_names_are_matched_exactly():
    run = Harness("tools:\n  send: {}\n")
    assert run.decide("Send").rule == "default-deny"
    assert run.decide("send ").rule == "default-deny"
    assert run.decide("send").outcome == "allow"


def test_mode_deny_switches_a_tool_off_whatever_its_rules_say():
    run = Harness(
        """\
        tools:
          t:
            mode: deny
            rules:
              - then: allow
        rules:
          - then: allow
        """
    )
    decision = run.decide()
    assert (decision.outcome, decision.rule) == ("deny", "tools.t.mode")
    assert run.state.denials == 1


def test_mode_deny_is_decided_before_the_kill_switch():
    run = Harness(
        """\
        tools:
          off:
            mode: deny
        kill_switch:
          max_calls: 1
          conditions:
            - when: "true"
        """
    )
    assert [d.rule for d in (run.decide("off"), run.decide("off"))] == [
        "tools.off.mode",
        "tools.off.mode",
    ]


def test_an_unlocked_tool_is_decided_like_any_other_under_its_limits():
    run = Harness(
        """\
        tools:
          wire:
            mode: deny
            rate: 2/hour
            rules:
              - when: "args.amount > 1000"
                then: approve
        kill_switch:
          max_calls: 4
        """
    )
    run.state.unlocked["wire"] = "escalation.apr_1"
    first = run.decide("wire", amount=5)
    assert (first.outcome, first.rule) == ("allow", "escalation.apr_1")
    assert "escalation" in first.reason
    big = run.decide("wire", amount=5000)
    assert (big.outcome, big.rule) == ("approve", "tools.wire.rules[0]")
    run.decide("wire", amount=6)
    limited = run.decide("wire", amount=7)
    assert (limited.outcome, limited.rule) == ("deny", "tools.wire.rate[0]")
    killed = run.decide("wire", amount=8)
    assert killed.outcome == "kill"
    assert run.state.killed is not None


def test_an_escalated_call_counts_when_a_run_is_rebuilt_from_its_log():
    run = Harness(
        """\
        tools:
          wire: {mode: deny, rate: 1/hour}
        """
    )
    now = run.clock.monotonic()
    run.policy.recount(
        call("wire"), run.state, now, outcome="allow", args_sha256="a" * 64
    )
    run.policy.recount(
        call("wire"), run.state, now, outcome="deny", args_sha256="b" * 64
    )
    run.state.unlocked["wire"] = "escalation.apr_1"
    limited = run.decide("wire")
    assert (limited.outcome, limited.rule) == ("deny", "tools.wire.rate[0]")


# --- 4. modes as defaults, rules and their order -------------------------------------


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [("live", "allow"), ("simulate", "simulate"), ("approve", "approve")],
)
def test_a_tool_without_matching_rules_gets_its_mode(mode, outcome):
    run = Harness(f"tools:\n  t:\n    mode: {mode}\n")
    decision = run.decide()
    assert (decision.outcome, decision.rule, decision.tool) == (
        outcome,
        "tools.t.mode",
        "t",
    )
    assert decision.via_approval is False


def test_a_tool_is_live_by_default():
    assert Harness("tools:\n  t: {}\n").decide().outcome == "allow"


@pytest.mark.parametrize("then", ["allow", "deny", "simulate", "approve", "kill"])
def test_a_matching_rule_gives_its_outcome(then):
    run = Harness(
        f"tools:\n  t:\n    mode: simulate\n    rules:\n      - then: {then}\n"
    )
    decision = run.decide()
    assert (decision.outcome, decision.rule) == (then, "tools.t.rules[0]")


def test_a_kill_rule_marks_the_run_killed():
    run = Harness("tools:\n  t:\n    rules:\n      - then: kill\n")
    assert run.decide().outcome == "kill"
    assert run.state.killed is not None


def test_the_first_matching_rule_wins():
    run = Harness(
        """\
        tools:
          t:
            mode: simulate
            rules:
              - when: args.amount > 1000
                then: deny
              - when: args.amount > 100
                then: approve
              - name: small
                when: args.amount > 0
                then: allow
                reason: small amounts are fine
        """
    )
    cases = {
        2000: "tools.t.rules[0]",
        500: "tools.t.rules[1]",
        5: "tools.t.rules.small",
    }
    for amount, rule in cases.items():
        assert run.decide(amount=amount).rule == rule
    assert run.decide(amount=5).reason == "small amounts are fine"
    assert run.decide(amount=-1).rule == "tools.t.mode"


def test_global_rules_are_checked_before_the_tools_own_rules():
    run = Harness(
        """\
        tools:
          t:
            rules:
              - then: allow
        rules:
          - when: args.x == 1
            then: deny
        """
    )
    assert (run.decide(x=1).outcome, run.decide(x=1).rule) == ("deny", "rules[0]")
    assert (run.decide(x=2).outcome, run.decide(x=2).rule) == (
        "allow",
        "tools.t.rules[0]",
    )


def test_global_rules_apply_only_to_the_tools_they_name():
    run = Harness(
        """\
        tools:
          a: {}
          b: {}
        rules:
          - name: only-a
            tools: [a]
            then: approve
        """
    )
    assert run.decide("a").rule == "rules.only-a"
    assert run.decide("b").rule == "tools.b.mode"


def test_global_rules_apply_only_to_tools_with_their_effect():
    run = Harness(
        """\
        tools:
          reader:
            effect: read
          writer:
            effect: write
          unmarked: {}
        rules:
          - effect: write
            then: approve
        """
    )
    assert run.decide("reader").outcome == "allow"
    assert run.decide("writer").outcome == "approve"
    assert run.decide("unmarked").outcome == "approve"  # tools write by default


def test_a_global_rule_needs_both_its_tools_and_its_effect_to_match():
    run = Harness(
        """\
        tools:
          reader:
            effect: read
          writer: {}
        rules:
          - tools: [reader, writer]
            effect: read
            then: deny
        """
    )
    assert run.decide("reader").outcome == "deny"
    assert run.decide("writer").outcome == "allow"


def test_an_empty_tools_list_applies_a_global_rule_to_no_tool():
    run = Harness("tools:\n  t: {}\nrules:\n  - tools: []\n    then: deny\n")
    assert run.decide().outcome == "allow"


# --- conditions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "args", "context", "matches"),
    [
        ('args.to.endsWith("@corp.com")', {"to": "a@corp.com"}, {}, True),
        ('args.to.endsWith("@corp.com")', {"to": "a@evil.com"}, {}, False),
        ("size(args.items) > 2", {"items": [1, 2, 3]}, {}, True),
        ("run.calls == 1", {}, {}, True),
        ('run.tool_calls["t"] == 1', {}, {}, True),
        ("run.denials == 0 && run.cost == 0.0", {}, {}, True),
        ('run.agent == "bot" && run.task == "test"', {}, {}, True),
        (
            'tool.name == "t" && tool.effect == "write" && tool.mode == "live"',
            {},
            {},
            True,
        ),
        ("tool.cost == 0.0", {}, {}, True),
        ('context.source == "email"', {}, {"source": "email"}, True),
        ('context.source == "email"', {}, {"source": "chat"}, False),
    ],
)
def test_conditions_see_args_run_tool_and_context(when, args, context, matches):
    # `approve` on a match: an evaluation error would deny, so it cannot pass for one.
    run = Harness(
        f"tools:\n  t:\n    rules:\n      - when: '{when}'\n        then: approve\n"
    )
    decision = run.decide(context=context, **args)
    assert decision.outcome == ("approve" if matches else "allow")


def test_run_elapsed_time_comes_from_the_clock_passed_in():
    run = Harness(
        "tools:\n  t:\n    rules:\n"
        "      - when: run.elapsed_s >= 60.0\n        then: approve\n"
    )
    assert run.decide().outcome == "allow"
    run.clock.advance(60)
    assert run.decide().outcome == "approve"


@pytest.mark.parametrize(
    "when",
    [
        pytest.param("args.missing > 1", id="missing-key"),
        pytest.param("args.s + 1 == 2", id="type-error"),
        pytest.param("args.n / args.zero > 1", id="division-by-zero"),
        pytest.param("args.n", id="int-result"),
        pytest.param("args.s", id="string-result"),
        pytest.param("context.ticket.id == 1", id="missing-context"),
    ],
)
def test_a_condition_that_cannot_be_evaluated_denies_with_its_rule(when):
    run = Harness(
        f"""\
        tools:
          t:
            rules:
              - name: broken
                when: '{when}'
                then: allow
              - then: allow
        """
    )
    decision = run.decide(s="text", n=1, zero=0)
    assert (decision.outcome, decision.rule) == ("deny", "tools.t.rules.broken")
    assert run.state.denials == 1


def test_a_global_rule_that_cannot_be_evaluated_denies_with_its_path():
    run = Harness("tools:\n  t: {}\nrules:\n  - when: args.x > 1\n    then: allow\n")
    decision = run.decide()
    assert (decision.outcome, decision.rule) == ("deny", "rules[0]")


# --- 5. rate limits -------------------------------------------------------------------


def test_exactly_n_calls_are_allowed_in_the_window():
    run = Harness("tools:\n  t:\n    rate: 3/minute\n")
    assert run.outcomes(3) == ["allow"] * 3
    decision = run.decide()
    assert (decision.outcome, decision.rule) == ("deny", "tools.t.rate[0]")
    assert run.state.denials == 1
    assert run.state.killed is None


@pytest.mark.parametrize(
    ("tool_on_exceed", "window_on_exceed", "outcome"),
    [
        (None, None, "deny"),
        ("kill", None, "kill"),
        ("deny", "kill", "kill"),
        ("kill", "deny", "deny"),
    ],
)
def test_going_over_the_rate_gives_on_exceed(tool_on_exceed, window_on_exceed, outcome):
    tool = f"    on_exceed: {tool_on_exceed}\n" if tool_on_exceed else ""
    window = f"        on_exceed: {window_on_exceed}\n" if window_on_exceed else ""
    run = Harness(f"tools:\n  t:\n{tool}    rate:\n      - limit: 1/minute\n{window}")
    assert run.decide().outcome == "allow"
    decision = run.decide()
    assert (decision.outcome, decision.rule) == (outcome, "tools.t.rate[0]")
    assert (run.state.killed is not None) is (outcome == "kill")


def test_the_window_slides_with_the_clock():
    run = Harness("tools:\n  t:\n    rate: 2/minute\n")
    assert run.outcomes(1) == ["allow"]
    run.clock.advance(30)
    assert run.outcomes(2) == ["allow", "deny"]
    run.clock.advance(29.5)
    assert run.outcomes(1) == ["deny"]
    run.clock.advance(0.5)  # one minute after the first call: it has left
    assert run.outcomes(2) == ["allow", "deny"]
    run.clock.advance(60)
    assert run.outcomes(3) == ["allow", "allow", "deny"]


def test_several_windows_hold_at_once():
    run = Harness("tools:\n  t:\n    rate: [3/minute, 5/hour]\n")
    assert run.outcomes(4) == ["allow", "allow", "allow", "deny"]
    assert run.decide().rule == "tools.t.rate[0]"
    run.clock.advance(60)
    assert run.outcomes(2) == ["allow", "allow"]
    decision = run.decide()
    assert (decision.outcome, decision.rule) == ("deny", "tools.t.rate[1]")
    run.clock.advance(3600 - 60)
    assert run.outcomes(1) == ["allow"]


def test_per_key_limits_keep_each_key_apart():
    run = Harness(
        "tools:\n  t:\n    rate:\n      - limit: 2/minute\n        key: args.to\n"
    )
    assert run.outcomes(3, to="ann") == ["allow", "allow", "deny"]
    assert run.outcomes(3, to="bob") == ["allow", "allow", "deny"]
    assert run.decide(to="ann").rule == "tools.t.rate[0]"


def test_a_rate_key_that_cannot_be_evaluated_denies():
    run = Harness(
        "tools:\n  t:\n    rate:\n      - limit: 2/minute\n        key: args.to\n"
    )
    decision = run.decide(subject="no recipient")
    assert (decision.outcome, decision.rule) == ("deny", "tools.t.rate[0]")
    assert run.outcomes(2, to="ann") == ["allow", "allow"]


def test_calls_denied_by_a_rule_do_not_use_up_the_rate():
    run = Harness(
        """\
        tools:
          t:
            rate: 2/minute
            rules:
              - when: args.x == 0
                then: deny
        """
    )
    assert run.outcomes(5, x=0) == ["deny"] * 5
    assert run.outcomes(3, x=1) == ["allow", "allow", "deny"]


def test_calls_refused_by_the_rate_do_not_use_up_the_rate():
    run = Harness("tools:\n  t:\n    rate: 2/minute\n")
    assert run.outcomes(2) == ["allow", "allow"]
    run.clock.advance(30)
    assert run.outcomes(1) == ["deny"]
    run.clock.advance(30)  # the first two have left; the refused one never counted
    assert run.outcomes(3) == ["allow", "allow", "deny"]


def test_a_call_refused_by_one_window_is_not_counted_in_the_others():
    run = Harness(
        """\
        tools:
          t:
            rate:
              - 2/minute
              - limit: 1/minute
                key: args.to
        """
    )
    assert run.decide(to="ann").outcome == "allow"
    assert run.decide(to="ann").rule == "tools.t.rate[1]"
    assert run.outcomes(1, to="bob") == ["allow"]
    assert run.decide(to="cat").rule == "tools.t.rate[0]"


def test_simulated_calls_count_against_the_rate():
    run = Harness("tools:\n  t:\n    mode: simulate\n    rate: 1/minute\n")
    assert run.outcomes(2) == ["simulate", "deny"]


def test_calls_waiting_for_approval_do_not_use_up_the_rate():
    run = Harness("tools:\n  t:\n    mode: approve\n    rate: 1/minute\n")
    assert run.outcomes(3) == ["approve"] * 3
    assert run.decide(approved=True).outcome == "allow"
    assert run.decide(approved=True).outcome == "deny"


def test_rate_limits_are_per_tool():
    run = Harness("tools:\n  a:\n    rate: 1/minute\n  b:\n    rate: 1/minute\n")
    assert run.outcomes(2, "a") == ["allow", "deny"]
    assert run.outcomes(2, "b") == ["allow", "deny"]


# --- 3. the kill switch ---------------------------------------------------------------


def test_max_calls_kills_the_call_after_the_last_allowed_one():
    run = Harness("tools:\n  t: {}\nkill_switch:\n  max_calls: 3\n")
    assert run.outcomes(3) == ["allow"] * 3
    decision = run.decide()
    assert (decision.outcome, decision.rule) == ("kill", "kill_switch.max_calls")
    assert run.state.killed == decision.reason


def test_max_calls_counts_every_call_proposed_even_denied_ones():
    run = Harness("tools:\n  t: {}\nkill_switch:\n  max_calls: 2\n")
    assert run.decide("undeclared").outcome == "deny"
    assert run.decide().outcome == "allow"
    assert run.decide().rule == "kill_switch.max_calls"


def test_max_cost_kills_a_call_that_would_go_over_it():
    run = Harness("tools:\n  t:\n    cost: 4\nkill_switch:\n  max_cost: 10\n")
    for _ in range(2):
        decision = run.decide()
        assert (decision.outcome, decision.cost) == ("allow", 4.0)
        run.policy.record_result(run.state, ok=True, cost=decision.cost)
    assert run.state.cost == 8.0
    decision = run.decide()
    assert (decision.outcome, decision.rule) == ("kill", "kill_switch.max_cost")


def test_max_cost_allows_a_call_that_reaches_it_exactly():
    run = Harness("tools:\n  t:\n    cost: 5\nkill_switch:\n  max_cost: 10\n")
    run.policy.record_result(run.state, ok=True, cost=5.0)
    assert run.decide().outcome == "allow"
    run.policy.record_result(run.state, ok=True, cost=5.0)
    assert run.decide().outcome == "kill"


def test_max_cost_lets_free_tools_run_at_the_limit():
    run = Harness(
        "tools:\n  free: {}\n  paid:\n    cost: 1\nkill_switch:\n  max_cost: 3\n"
    )
    run.policy.record_result(run.state, ok=True, cost=3.0)
    assert run.decide("free").outcome == "allow"
    assert run.decide("paid").rule == "kill_switch.max_cost"


def test_max_denials_kills_the_call_after_that_many_denials():
    run = Harness("tools:\n  t: {}\nkill_switch:\n  max_denials: 2\n")
    assert run.outcomes(2, "undeclared") == ["deny", "deny"]
    decision = run.decide()
    assert (decision.outcome, decision.rule) == ("kill", "kill_switch.max_denials")


def test_max_consecutive_errors_counts_results_in_a_row():
    run = Harness("tools:\n  t: {}\nkill_switch:\n  max_consecutive_errors: 2\n")
    record = run.policy.record_result
    record(run.state, ok=False, cost=0.0)
    record(run.state, ok=True, cost=0.0)  # a success resets the streak
    record(run.state, ok=False, cost=0.0)
    assert run.decide().outcome == "allow"
    record(run.state, ok=False, cost=0.0)
    decision = run.decide()
    assert (decision.outcome, decision.rule) == (
        "kill",
        "kill_switch.max_consecutive_errors",
    )


def test_repeated_calls_kill_the_same_call_made_too_often_in_the_window():
    run = Harness(
        "tools:\n  t: {}\nkill_switch:\n  repeated_calls:\n    max: 2\n    window: 1m\n"
    )
    assert run.outcomes(2, x=1) == ["allow", "allow"]
    assert run.outcomes(3, x=2) == ["allow", "allow", "kill"]
    decision = run.decide(x=1)
    assert (decision.outcome, decision.rule) == ("kill", "kill_switch.repeated_calls")


def test_repeated_calls_outside_the_window_are_not_counted():
    run = Harness(
        "tools:\n  t: {}\nkill_switch:\n  repeated_calls:\n    max: 2\n    window: 60\n"
    )
    assert run.outcomes(1, x=1) == ["allow"]
    run.clock.advance(30)
    assert run.outcomes(1, x=1) == ["allow"]
    run.clock.advance(30)  # the first call has left the window
    assert run.outcomes(1, x=1) == ["allow"]
    assert run.outcomes(1, x=1) == ["kill"]


def test_repeated_calls_tell_tools_apart():
    run = Harness(
        "tools:\n  a: {}\n  b: {}\nkill_switch:\n  repeated_calls:\n    max: 2\n"
    )
    assert run.outcomes(2, "a", x=1) + run.outcomes(2, "b", x=1) == ["allow"] * 4


def test_repeated_calls_use_the_arguments_hash_when_given():
    run = Harness("tools:\n  t: {}\nkill_switch:\n  repeated_calls:\n    max: 2\n")
    now = run.clock.monotonic()
    outcomes = [
        run.policy.decide(call(x=i), run.state, now, args_sha256="same").outcome
        for i in range(3)
    ]
    assert outcomes == ["allow", "allow", "kill"]


def test_kill_conditions_see_run_statistics():
    run = Harness(
        """\
        tools:
          t: {}
        kill_switch:
          conditions:
            - name: busy
              when: run.tool_calls["t"] > 2
              reason: too busy
        """
    )
    assert run.outcomes(2) == ["allow", "allow"]
    decision = run.decide()
    assert (decision.outcome, decision.rule, decision.reason) == (
        "kill",
        "kill_switch.conditions.busy",
        "too busy",
    )


def test_kill_conditions_without_a_name_are_located_by_index():
    run = Harness(
        """\
        tools:
          t: {}
        kill_switch:
          conditions:
            - when: run.calls > 5
            - when: run.denials >= 1
        """
    )
    assert run.decide("undeclared").outcome == "deny"
    assert run.decide().rule == "kill_switch.conditions[1]"


def test_a_kill_condition_that_cannot_be_evaluated_denies():
    run = Harness(
        "tools:\n  t: {}\nkill_switch:\n  conditions:\n    - when: run.nope > 1\n"
    )
    decision = run.decide()
    assert (decision.outcome, decision.rule) == ("deny", "kill_switch.conditions[0]")
    assert run.state.killed is None


def test_the_kill_switch_is_checked_before_the_rules():
    run = Harness(
        """\
        tools:
          t:
            rules:
              - then: deny
        kill_switch:
          max_calls: 1
        """
    )
    assert run.decide().outcome == "deny"
    assert run.decide().outcome == "kill"


# --- approval and invalid arguments ------------------------------------------------


def test_an_approved_call_is_allowed_via_approval():
    run = Harness("tools:\n  t:\n    mode: approve\n    cost: 2\n")
    decision = run.decide(approved=True)
    assert (decision.outcome, decision.rule, decision.via_approval) == (
        "allow",
        "tools.t.mode",
        True,
    )
    assert decision.cost == 2.0
    assert run.state.pending == 0


def test_an_approve_rule_is_turned_into_allow_by_approval():
    run = Harness("tools:\n  t:\n    rules:\n      - then: approve\n")
    assert run.decide().outcome == "approve"
    decision = run.decide(approved=True)
    assert (decision.outcome, decision.rule, decision.via_approval) == (
        "allow",
        "tools.t.rules[0]",
        True,
    )


@pytest.mark.parametrize(
    ("then", "outcome"),
    [("deny", "deny"), ("allow", "allow"), ("simulate", "simulate")],
)
def test_approval_changes_only_an_approve_outcome(then, outcome):
    run = Harness(f"tools:\n  t:\n    rules:\n      - then: {then}\n")
    decision = run.decide(approved=True)
    assert (decision.outcome, decision.via_approval) == (outcome, False)


def test_an_approved_call_still_obeys_the_rate():
    run = Harness("tools:\n  t:\n    mode: approve\n    rate: 1/minute\n")
    assert run.decide(approved=True).outcome == "allow"
    decision = run.decide(approved=True)
    assert (decision.outcome, decision.rule) == ("deny", "tools.t.rate[0]")


def test_an_approved_call_still_obeys_the_kill_switch():
    run = Harness("tools:\n  t:\n    mode: approve\nkill_switch:\n  max_calls: 1\n")
    assert run.decide().outcome == "approve"
    assert run.decide(approved=True).rule == "kill_switch.max_calls"


def test_invalid_arguments_deny_even_when_a_rule_allows():
    run = Harness("tools:\n  t:\n    rules:\n      - then: allow\n")
    decision = run.decide(invalid="'to' is required")
    assert (decision.outcome, decision.rule) == ("deny", "tools.t.input_schema")
    assert run.state.denials == 1


def test_invalid_arguments_are_judged_after_the_kill_switch():
    run = Harness("tools:\n  t: {}\nkill_switch:\n  max_calls: 1\n")
    assert run.decide(invalid="bad").rule == "tools.t.input_schema"
    assert run.decide(invalid="bad").rule == "kill_switch.max_calls"


def test_invalid_arguments_to_an_undeclared_tool_are_denied_by_default():
    run = Harness("tools:\n  t: {}\n")
    assert run.decide("other", invalid="bad").rule == "default-deny"


def test_invalid_arguments_do_not_use_up_the_rate():
    run = Harness("tools:\n  t:\n    rate: 1/minute\n")
    assert run.decide(invalid="bad").outcome == "deny"
    assert run.decide().outcome == "allow"


# --- what every decision carries ---------------------------------------------------


def test_every_decision_is_stamped_with_the_manifest_hash():
    manifest = manifest_from(
        HEAD
        + textwrap.dedent(
            """\
            tools:
              live: {}
              sim:
                mode: simulate
              ask:
                mode: approve
              off:
                mode: deny
              limited:
                rate: 1/minute
              bad:
                rules:
                  - when: args.nope
                    then: allow
              killer:
                rules:
                  - then: kill
            """
        )
    )
    policy = compile_policy(manifest)
    assert policy.manifest_sha256 == manifest.sha256
    state = new_state()
    tools = ["live", "sim", "ask", "off", "limited", "limited", "bad", "killer", "zz"]
    decisions = [policy.decide(call(tool), state, 1.0) for tool in tools]
    assert {d.outcome for d in decisions} == {
        "allow",
        "simulate",
        "approve",
        "deny",
        "kill",
    }
    assert {d.manifest_sha256 for d in decisions} == {manifest.sha256}


def test_decisions_are_valid_frozen_models():
    decision = Harness("tools:\n  t: {}\n").decide()
    assert Decision.model_validate(decision.model_dump()) == decision


def test_only_allowed_calls_carry_the_tool_cost():
    run = Harness(
        "tools:\n  t:\n    cost: 3\n    rules:\n"
        "      - when: args.x == 1\n        then: simulate\n"
    )
    assert run.decide(x=0).cost == 3.0
    assert run.decide(x=1).cost == 0.0


def test_tool_names_are_in_manifest_order():
    policy = policy_for("tools:\n  b: {}\n  a: {}\n  c: {}\n")
    assert policy.tool_names() == ["b", "a", "c"]


# --- RunState counters ----------------------------------------------------------------


def test_decide_counts_calls_denials_and_pending_approvals():
    run = Harness(
        "tools:\n  ok: {}\n  ask:\n    mode: approve\n  sim:\n    mode: simulate\n"
    )
    run.decide("ok")
    run.decide("ask")
    run.decide("ask")
    run.decide("sim")
    run.decide("nope")
    state = run.state
    assert (state.calls, state.denials, state.pending) == (5, 1, 2)
    assert state.tool_calls == {"ok": 1, "ask": 2, "sim": 1, "nope": 1}
    assert (state.executed, state.errors, state.cost) == (0, 0, 0.0)
    assert state.killed is None


def test_record_result_counts_executions_errors_and_cost():
    policy = policy_for("tools:\n  t: {}\n")
    state = new_state()
    policy.record_result(state, ok=True, cost=1.5)
    policy.record_result(state, ok=False, cost=0.5)
    policy.record_result(state, ok=False, cost=0.0)
    assert (state.executed, state.errors, state.consecutive_errors) == (1, 2, 2)
    assert state.cost == 2.0
    policy.record_result(state, ok=True, cost=0.0)
    assert (state.executed, state.consecutive_errors) == (2, 0)


def test_a_killed_decision_records_why():
    run = Harness("tools:\n  t: {}\nkill_switch:\n  max_calls: 1\n")
    run.decide()
    decision = run.decide()
    assert run.state.killed == decision.reason
    assert run.state.denials == 0


# --- compiling ------------------------------------------------------------------------


def compile_problems(text: str) -> tuple[Manifest, list[CompileProblem]]:
    manifest = manifest_from(HEAD + textwrap.dedent(text))
    with pytest.raises(PolicyCompileError) as info:
        compile_policy(manifest)
    assert info.value.code == "E-MANIFEST-CEL"
    assert isinstance(info.value, ValueError)
    return manifest, info.value.problems


def test_every_condition_that_does_not_compile_is_reported_with_its_location():
    manifest, problems = compile_problems(
        """\
        tools:
          t:
            rate:
              - limit: 1/minute
                key: args.to +
            rules:
              - when: args.x >
                then: deny
        rules:
          - when: (((
            then: deny
        kill_switch:
          conditions:
            - when: run.calls >>> 3
        """
    )
    assert [(p.code, p.loc) for p in problems] == [
        ("E-MANIFEST-CEL", ("rules", 0, "when")),
        ("E-MANIFEST-CEL", ("tools", "t", "rules", 0, "when")),
        ("E-MANIFEST-CEL", ("tools", "t", "rate", 0, "key")),
        ("E-MANIFEST-CEL", ("kill_switch", "conditions", 0, "when")),
    ]
    source = manifest_source(manifest)
    positions = [tuple(source.locate(p.loc)) for p in problems]
    assert positions == [(12, 11), (9, 15), (7, 14), (16, 13)]


def test_a_compile_error_names_its_first_problem():
    _, problems = compile_problems(
        "tools:\n  t:\n    rules:\n      - when: 'a b'\n        then: deny\n"
    )
    assert len(problems) == 1
    assert problems[0].message


# --- fuzz: any condition text either compiles and decides, or is a coded error ------

_CEL = st.one_of(
    st.sampled_from(
        [
            "true",
            "args.to == 'x'",
            "args.missing",
            "1/0 == 1",
            "run.calls",
            "(((",
            "args.to +",
            "tool.name",
            "'a' + 1",
            'context.k == "v"',
            "null",
        ]
    ),
    st.text(max_size=30),
)


def build(text: str) -> Policy | ManifestError | PolicyCompileError:
    try:
        return compile_policy(manifest_from(text))
    except (ManifestError, PolicyCompileError) as exc:
        return exc


@settings(max_examples=200, deadline=None, database=None)
@given(
    when=_CEL,
    key=_CEL,
    kill=_CEL,
    args=st.dictionaries(
        st.text(max_size=3), st.integers() | st.text(max_size=3), max_size=3
    ),
)
def test_any_condition_text_compiles_and_decides_or_is_a_cel_error(
    when, key, kill, args
):
    data = {
        "agent": {"name": "bot"},
        "tools": {
            "t": {
                "rules": [{"when": when, "then": "allow"}],
                "rate": [{"limit": "5/minute", "key": key}],
            }
        },
        "kill_switch": {"conditions": [{"when": kill}]},
    }
    outcome = build(yaml.safe_dump(data))
    if isinstance(outcome, ManifestError):
        # Only a blank condition is refused before compiling.
        assert {issue.code for issue in outcome.issues} == {"E-MANIFEST-VALUE"}
        return
    if isinstance(outcome, PolicyCompileError):
        assert {problem.code for problem in outcome.problems} == {"E-MANIFEST-CEL"}
        assert {problem.loc[-1] for problem in outcome.problems} <= {"when", "key"}
        return
    policy = outcome
    decision = policy.decide(ToolCall(tool="t", args=args), new_state(), 1.0)
    assert decision.outcome in ("allow", "deny", "kill")
