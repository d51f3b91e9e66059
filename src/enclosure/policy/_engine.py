"""The policy engine: a compiled manifest that turns a call into a decision.

Order of evaluation for one call (the first step that decides wins):

1. The tool is not in the manifest: ``deny`` (``default-deny``).
2. The tool has ``mode: deny``: ``deny`` (``tools.T.mode``); its rules are not read.
3. Kill switch, with this call counted: ``max_calls``, ``max_cost``, ``max_denials``,
   ``max_consecutive_errors``, ``repeated_calls`` and each ``conditions`` entry:
   ``kill``.
4. Global ``rules`` that apply to the tool, then the tool's own ``rules``, in order:
   the first whose ``when`` is true gives its ``then``. No match: the tool's ``mode``
   (live → allow, simulate, approve).
5. The taint guard: an allow, simulate or approve whose ``sensitive`` argument
   carries a value an ``untrusted`` tool returned in this run gets ``taint.action``
   (approve or deny; a human's approval of exactly this call lets it through).
6. For allow and simulate (and an approved call), each ``rate`` window: over the limit
   gives the window's ``on_exceed`` (deny or kill); within all, the call is counted.
   A run's ``state.limits`` may raise a window's count for that run (an escalation).
7. ``cap``, applied by the caller after ``decide``: a tool's ladder stage or a
   shadow run lowers what a write may do (see ``cap``).

A condition that fails to evaluate denies the call (fail closed) and says why. The
engine is pure: time is passed in, state is the ``RunState`` it is handed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from enclosure._json import sha256_json
from enclosure.errors import EnclosureError
from enclosure.models import Decision, ToolCall
from enclosure.policy._conditions import (
    Activation,
    Condition,
    ConditionError,
    ConditionSyntaxError,
)

if TYPE_CHECKING:
    from enclosure.manifest import Manifest, Rule, ToolSpec
    from enclosure.policy._state import RunState
    from enclosure.types import Outcome

__all__ = ["CompileProblem", "Policy", "PolicyCompileError", "compile_policy"]

_MODE_OUTCOME: dict[str, Outcome] = {
    "live": "allow",
    "simulate": "simulate",
    "approve": "approve",
    "deny": "deny",
}


_DECISION_CACHE = 4096
"""Most distinct decisions kept for reuse."""


class CompileProblem(NamedTuple):
    code: str
    message: str
    loc: tuple[str | int, ...]


class PolicyCompileError(EnclosureError, ValueError):
    """The manifest validated but a condition does not compile."""

    default_code = "E-MANIFEST-CEL"

    def __init__(self, problems: list[CompileProblem]) -> None:
        self.problems = problems
        super().__init__(problems[0].message, code=problems[0].code)


@dataclass(frozen=True, slots=True)
class _Rule:
    path: str
    when: Condition
    then: Outcome
    reason: str


@dataclass(frozen=True, slots=True)
class _Rate:
    path: str
    limit: str
    count: int
    window_s: float
    key: Condition | None
    on_exceed: Outcome


@dataclass(frozen=True, slots=True)
class _Tool:
    name: str
    spec: ToolSpec
    default: Outcome
    rules: tuple[_Rule, ...]
    rates: tuple[_Rate, ...]
    ctx: dict[str, Any]
    roots: frozenset[str]
    """The variables its conditions (and the kill conditions) read."""
    run_fields: frozenset[str] | None
    """The ``run`` fields its conditions read (None: all of them)."""
    sinks: tuple[str, ...] = ()
    """Its ``sensitive`` arguments."""


@dataclass(frozen=True, slots=True)
class _Kill:
    path: str
    when: Condition
    reason: str


class _Compiler:
    def __init__(self) -> None:
        self.problems: list[CompileProblem] = []

    def condition(self, source: str, loc: tuple[str | int, ...]) -> Condition:
        try:
            return Condition(source)
        except ConditionSyntaxError as exc:
            self.problems.append(CompileProblem("E-MANIFEST-CEL", str(exc), loc))
            return Condition("true")

    def rule(self, rule: Rule, base: str, loc: tuple[str | int, ...]) -> _Rule:
        path = f"{base}.{rule.name}" if rule.name else f"{base}[{loc[-1]}]"
        when = self.condition(rule.when, (*loc, "when"))
        reason = rule.reason or f"rule {path} matched"
        return _Rule(path, when, rule.then, reason)


def compile_policy(manifest: Manifest) -> Policy:
    """Compile every condition of ``manifest`` once.

    Raises:
        PolicyCompileError: with each condition that does not compile and its
            manifest path, so the caller can print ``file:line:col``.
    """
    c = _Compiler()
    global_rules = [
        (g, c.rule(g, "rules", ("rules", i))) for i, g in enumerate(manifest.rules)
    ]
    kills = tuple(
        _Kill(
            path=f"kill_switch.conditions.{k.name}"
            if k.name
            else f"kill_switch.conditions[{i}]",
            when=c.condition(k.when, ("kill_switch", "conditions", i, "when")),
            reason=k.reason or f"kill condition {k.when!r} is true",
        )
        for i, k in enumerate(manifest.kill_switch.conditions)
    )
    kill_conditions = [k.when for k in kills]
    tools: dict[str, _Tool] = {}
    for name, spec in manifest.tools.items():
        own = [
            c.rule(r, f"tools.{name}.rules", ("tools", name, "rules", i))
            for i, r in enumerate(spec.rules)
        ]
        applicable = [
            compiled
            for g, compiled in global_rules
            if (g.tools is None or name in g.tools)
            and (g.effect is None or g.effect == spec.effect)
        ]
        rates = tuple(
            _Rate(
                path=f"tools.{name}.rate[{i}]",
                limit=r.limit,
                count=r.count,
                window_s=r.window_s,
                key=None
                if r.key is None
                else c.condition(r.key, ("tools", name, "rate", i, "key")),
                on_exceed=r.on_exceed or spec.on_exceed,
            )
            for i, r in enumerate(spec.rate)
        )
        ctx = {
            "name": name,
            "effect": spec.effect,
            "mode": spec.mode,
            "cost": spec.cost,
        }
        rules = (*applicable, *own)
        conditions = [r.when for r in rules] + [r.key for r in rates if r.key]
        conditions += kill_conditions
        roots = frozenset().union(*(cond.roots for cond in conditions))
        run_fields: frozenset[str] | None = frozenset()
        for cond in conditions:
            if cond.run_fields is None or run_fields is None:
                run_fields = None
            else:
                run_fields |= cond.run_fields
        tools[name] = _Tool(
            name,
            spec,
            _MODE_OUTCOME[spec.mode],
            rules,
            rates,
            ctx,
            roots,
            run_fields,
            tuple(spec.sensitive),
        )
    if c.problems:
        order = ("rules", "tools", "kill_switch")  # the manifest's section order
        c.problems.sort(key=lambda p: order.index(str(p.loc[0])))
        raise PolicyCompileError(c.problems)
    return Policy(manifest, tools, kills)


class Policy:
    """A compiled manifest; ``decide`` changes nothing but the ``RunState`` given."""

    def __init__(
        self, manifest: Manifest, tools: dict[str, _Tool], kills: tuple[_Kill, ...]
    ) -> None:
        self.manifest = manifest
        self.manifest_sha256 = manifest.sha256
        self._tools = tools
        self._kills = kills
        self._ks = manifest.kill_switch
        self._taint = manifest.taint
        self._untrusted = frozenset(
            name for name, spec in manifest.tools.items() if spec.untrusted
        )
        self._decisions: dict[tuple[str, str, str, str, float], Decision] = {}

    def tool_names(self) -> list[str]:
        """Names of the declared tools, in manifest order."""
        return list(self._tools)

    def _decision(
        self, outcome: Outcome, rule: str, reason: str, tool: str, cost: float = 0.0
    ) -> Decision:
        # Decisions are frozen, and most repeat exactly (same rule, same reason),
        # so equal ones are built once and shared: building one costs ~5 µs.
        key = (outcome, rule, reason, tool, cost)
        decision = self._decisions.get(key)
        if decision is None:
            # model_construct: every field is built here from trusted values.
            decision = Decision.model_construct(
                outcome=outcome,
                rule=rule,
                reason=reason,
                tool=tool,
                manifest_sha256=self.manifest_sha256,
                cost=cost,
            )
            if len(self._decisions) >= _DECISION_CACHE:
                self._decisions.clear()  # dynamic reasons (rate limits) churn it
            self._decisions[key] = decision
        return decision

    def decide(
        self,
        call: ToolCall,
        state: RunState,
        now: float,
        *,
        approved: bool = False,
        invalid: str | None = None,
        args_sha256: str | None = None,
    ) -> Decision:
        """Decide one call and count it in ``state``.

        Args:
            call: the proposed call.
            state: the run's state; updated with this call.
            now: the caller's monotonic time in seconds.
            approved: a human approved exactly this call, so an ``approve``
                outcome becomes ``allow`` (rate limits and the kill switch still hold).
            invalid: why the arguments failed validation, if they did; the call is
                denied after the kill switch has had its say.
            args_sha256: the arguments' hash if the caller has it already.

        Returns:
            The decision; a ``deny`` counts as a denial in ``state``.
        """
        state.calls += 1
        state.tool_calls[call.tool] = state.tool_calls.get(call.tool, 0) + 1
        decision = self._decide(call, state, now, approved, invalid, args_sha256)
        if decision.outcome == "deny":
            state.denials += 1
        elif decision.outcome == "approve":
            state.pending += 1
        elif decision.outcome == "kill":
            state.killed = decision.reason
        return decision

    def recount(
        self,
        call: ToolCall,
        state: RunState,
        now: float,
        *,
        outcome: Outcome,
        args_sha256: str,
    ) -> None:
        """Count into ``state`` a call decided earlier, as ``decide`` counted it.

        Rebuilds a run's state from its decision log in another process: no rule
        is evaluated again, the recorded ``outcome`` says what the call used up
        (its rate windows for allow and simulate, its repeated-call signature).
        Keyed rate limits take their key from the logged arguments, which are
        redacted and cut: a key read from a secret or a very long string may
        count in another bucket than it did.
        """
        state.calls += 1
        state.tool_calls[call.tool] = state.tool_calls.get(call.tool, 0) + 1
        if outcome == "deny":
            state.denials += 1
        elif outcome == "approve":
            state.pending += 1
        tool = self._tools.get(call.tool)
        # A switched-off tool's call used something only if an escalation let it run.
        if tool is None or (
            tool.default == "deny" and outcome not in ("allow", "simulate")
        ):
            return
        if self._ks.repeated_calls is not None:
            self._repeated(call, tool.name, state, now, args_sha256)
        if outcome not in ("allow", "simulate"):
            return
        activation = _activation(call, tool, state, now)
        for rate in tool.rates:
            key = ""
            if rate.key is not None:
                try:
                    key = str(rate.key.value(activation))
                except ConditionError:
                    continue  # decide denied such a call; it used no window
            state.windows.hit((rate.path, key), now)

    def remember(self, state: RunState, tool: str, value: Any) -> None:
        """Taint what ``tool`` returned in this run, if the manifest distrusts it."""
        if tool in self._untrusted:
            state.taint.add(tool, value)

    def cap(
        self,
        decision: Decision,
        *,
        stage: int | None,
        shadow: bool,
        approved: bool = False,
    ) -> Decision:
        """Lower a write's decision to what its ladder stage or a shadow run allows.

        Stage 1 (read-only) denies writes; stage 2 (shadow) and a shadow run
        simulate them; stage 3 (approval-gated) asks a human before an allow,
        unless a human approved exactly this call. Reads, stages 4-5 and deny,
        kill and simulate pass unchanged.
        """
        tool = self._tools.get(decision.tool)
        if tool is None or tool.spec.effect == "read":
            return decision
        outcome = decision.outcome
        if outcome not in ("allow", "approve"):
            return decision
        name = tool.name
        if stage == 1:
            reason = f"tool {name!r} is at ladder stage 1 (read-only): writes denied"
            return self._decision("deny", f"ladder.{name}", reason, name)
        if shadow or stage == 2:  # noqa: PLR2004 -- the shadow stage
            why = "the run is in shadow mode" if shadow else "it is at stage 2"
            reason = f"simulated: {why}; proposed action recorded ({decision.reason})"
            rule = "shadow" if shadow else f"ladder.{name}"
            return self._decision("simulate", rule, reason, name)
        if stage == 3 and outcome == "allow" and not decision.via_approval:  # noqa: PLR2004 -- the approval stage
            reason = f"tool {name!r} is at ladder stage 3: a human approves each call"
            if approved:
                return self._decision(
                    "allow", f"ladder.{name}", f"approved by a human ({reason})", name
                ).model_copy(update={"via_approval": True, "cost": tool.spec.cost})
            return self._decision("approve", f"ladder.{name}", reason, name)
        return decision

    def record_result(self, state: RunState, *, ok: bool, cost: float) -> None:
        """Count what a live or simulated call did, for the kill switch."""
        if ok:
            state.executed += 1
            state.consecutive_errors = 0
        else:
            state.errors += 1
            state.consecutive_errors += 1
        state.cost += cost

    def _decide(  # noqa: C901 -- the documented order, one step per branch
        self,
        call: ToolCall,
        state: RunState,
        now: float,
        approved: bool,  # noqa: FBT001 -- private, positional for speed
        invalid: str | None,
        args_sha256: str | None,
    ) -> Decision:
        tool = self._tools.get(call.tool)
        if tool is None:
            reason = (
                f"tool {call.tool!r} is not declared in the manifest (default deny)"
            )
            return self._decision("deny", "default-deny", reason, call.tool)
        unlocked = state.unlocked.get(tool.name) if tool.default == "deny" else None
        if tool.default == "deny" and unlocked is None:
            reason = f"tool {tool.name!r} is switched off (mode: deny)"
            return self._decision("deny", f"tools.{tool.name}.mode", reason, tool.name)
        activation = _activation(call, tool, state, now)
        killed = self._kill_switch(call, tool, state, now, activation, args_sha256)
        if killed is not None:
            return killed
        if invalid is not None:
            reason = f"arguments do not match the tool's schema: {invalid}"
            rule = f"tools.{tool.name}.input_schema"
            return self._decision("deny", rule, reason, tool.name)
        matched = self._first_match(tool, activation)
        if isinstance(matched, Decision):
            return matched
        outcome, rule, reason = matched
        if unlocked is not None and rule == f"tools.{tool.name}.mode":
            outcome, rule = "allow", unlocked
            reason = f"tool {tool.name!r} is off; an escalation lets this run use it"
        via_approval = False
        if outcome == "approve" and approved:
            outcome, reason = "allow", f"approved by a human ({reason})"
            via_approval = True
        if tool.sinks and state.taint and not via_approval:
            tainted = self._tainted(tool, call, state, approved=approved)
            if tainted is not None:
                outcome, rule, reason, via_approval = tainted
        if outcome in ("allow", "simulate"):
            limited = self._rate_limits(tool, state, now, activation)
            if limited is not None:
                return limited
        cost = tool.spec.cost if outcome == "allow" else 0.0
        decision = self._decision(outcome, rule, reason, tool.name, cost)
        if via_approval:
            decision = decision.model_copy(update={"via_approval": True})
        return decision

    def _tainted(
        self, tool: _Tool, call: ToolCall, state: RunState, *, approved: bool
    ) -> tuple[Outcome, str, str, bool] | None:
        """The taint guard's verdict for a call to a tool with sensitive args."""
        spec = self._taint
        args = call.args
        for arg in tool.sinks:
            if arg not in args:
                continue
            found = state.taint.match(
                args[arg], min_chars=spec.min_chars, min_overlap=spec.min_overlap
            )
            if found is None:
                continue
            rule = f"taint.{tool.name}.{arg}"
            reason = (
                f"argument {arg!r} carries a value ({found.kind} match) that "
                f"untrusted tool {found.source!r} returned in this run"
            )
            if spec.action == "approve" and approved:
                return "allow", rule, f"approved by a human ({reason})", True
            return spec.action, rule, reason, False
        return None

    def _first_match(
        self, tool: _Tool, activation: Activation
    ) -> tuple[Outcome, str, str] | Decision:
        """The first rule whose condition holds, else the tool's mode."""
        for r in tool.rules:
            try:
                matched = r.when.test(activation)
            except ConditionError as exc:
                reason = f"condition of {r.path} could not be evaluated ({exc}); denied"
                return self._decision("deny", r.path, reason, tool.name)
            if matched:
                return r.then, r.path, r.reason
        reason = f"no rule matched; tool {tool.name!r} has mode: {tool.spec.mode}"
        return tool.default, f"tools.{tool.name}.mode", reason

    def _kill_switch(
        self,
        call: ToolCall,
        tool: _Tool,
        state: RunState,
        now: float,
        activation: Activation,
        args_sha256: str | None,
    ) -> Decision | None:
        ks = self._ks
        name = tool.name

        def kill(rule: str, reason: str) -> Decision:
            return self._decision("kill", f"kill_switch.{rule}", reason, name)

        if ks.max_calls is not None and state.calls > ks.max_calls:
            return kill("max_calls", f"run reached max_calls ({ks.max_calls})")
        if ks.max_cost is not None and state.cost + tool.spec.cost > ks.max_cost:
            return kill(
                "max_cost",
                f"call would bring the run's cost to {state.cost + tool.spec.cost:g}, "
                f"over max_cost ({ks.max_cost:g})",
            )
        if ks.max_denials is not None and state.denials >= ks.max_denials:
            return kill("max_denials", f"run reached max_denials ({ks.max_denials})")
        if (
            ks.max_consecutive_errors is not None
            and state.consecutive_errors >= ks.max_consecutive_errors
        ):
            return kill(
                "max_consecutive_errors",
                f"run had {state.consecutive_errors} errors in a row "
                f"(max_consecutive_errors: {ks.max_consecutive_errors})",
            )
        if ks.repeated_calls is not None:
            repeated = self._repeated(call, name, state, now, args_sha256)
            if repeated is not None:
                return kill("repeated_calls", repeated)
        return self._kill_conditions(name, activation)

    def _repeated(
        self,
        call: ToolCall,
        name: str,
        state: RunState,
        now: float,
        args_sha256: str | None,
    ) -> str | None:
        """Why the repeated-call limit fires for this call, or None."""
        rc = self._ks.repeated_calls
        assert rc is not None  # noqa: S101 -- checked by the caller
        if args_sha256 is None:
            try:
                args_sha256 = sha256_json(call.args)
            except (TypeError, ValueError):  # NaN or a non-JSON value: still a call
                args_sha256 = sha256_json(repr(call.args))
        sig = f"{name}\0{args_sha256}"
        recent, counts = state.recent, state.recent_counts
        while recent and recent[0][0] <= now - rc.window:
            _, old = recent.popleft()
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
        recent.append((now, sig))
        same = counts[sig] = counts.get(sig, 0) + 1
        if same <= rc.max:
            return None
        return (
            f"the same call to {name!r} was made {same} times within "
            f"{rc.window:g}s (max {rc.max})"
        )

    def _kill_conditions(self, name: str, activation: Activation) -> Decision | None:
        for k in self._kills:
            try:
                fired = k.when.test(activation)
            except ConditionError as exc:
                reason = (
                    f"kill condition {k.path} could not be evaluated ({exc}); denied"
                )
                return self._decision("deny", k.path, reason, name)
            if fired:
                return self._decision("kill", k.path, k.reason, name)
        return None

    def _rate_limits(
        self,
        tool: _Tool,
        state: RunState,
        now: float,
        activation: Activation,
    ) -> Decision | None:
        buckets = []
        for rate in tool.rates:
            key = ""
            if rate.key is not None:
                try:
                    key = str(rate.key.value(activation))
                except ConditionError as exc:
                    reason = f"rate key of {rate.path} could not be evaluated ({exc})"
                    return self._decision("deny", rate.path, reason, tool.name)
            bucket = (rate.path, key)
            count = state.limits.get(rate.path, rate.count)
            check = state.windows.check(bucket, count, rate.window_s, now)
            if not check.allowed:
                per = f" for key {key!r}" if key else ""
                limit = rate.limit
                if count != rate.count:
                    limit = f"{count}/{rate.window_s:g}s (raised for this run)"
                reason = (
                    f"rate limit {limit}{per} exceeded ({check.used} calls in the "
                    f"window); next call possible in {check.retry_after_s:.0f}s"
                )
                return self._decision(rate.on_exceed, rate.path, reason, tool.name)
            buckets.append(bucket)
        for bucket in buckets:
            state.windows.hit(bucket, now)
        return None


def _activation(call: ToolCall, tool: _Tool, state: RunState, now: float) -> Activation:
    """The variables the tool's conditions read, and nothing else."""
    values: dict[str, Any] = {}
    roots = tool.roots
    if "args" in roots:
        values["args"] = call.args
    if "context" in roots:
        values["context"] = call.context
    if "tool" in roots:
        values["tool"] = tool.ctx
    if "run" in roots:
        values["run"] = state.snapshot(now, fields=tool.run_fields)
    return Activation(values)
