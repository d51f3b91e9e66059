"""Per-decision latency of the policy engine, against Cedar (``cedarpy``).

Run: ``.venv/bin/python benchmarks/policy.py`` (``--help`` for options).

What is generated (all from one seed, in memory):

* A manifest of 200 tools (``tool_000`` ...), each with 2-4 CEL rules over ``args``
  (string suffix checks, numeric comparisons, ``in`` lists, and ``&&``/``||``/``!``
  combinations of them), a mix of modes (live, simulate, approve and a few deny),
  four global rules (one for all tools, one per effect, one for a list of tools),
  a non-tripping rate limit on every tool (``1000000/minute``), a per-recipient one
  (``key: args.to``) on every fourth tool, and a kill switch whose limits (calls,
  cost, denials, errors, repeated calls and one CEL condition) are all set high.
* The equivalent Cedar policy set, built from the same condition trees.
* A workload of 20,000 calls with arguments ``to``, ``amount``, ``region`` and
  ``priority`` chosen to hit different rules; about 1% name an undeclared tool.

How the manifest maps to Cedar (principal ``Agent::"billing"``, action
``Action::"call_<tool>"``, resource ``Tool::"<tool>"``, the call's ``args`` as the
request ``context``):

* Conditions translate one to one: ``args.to.endsWith("@x")`` is
  ``context.to like "*@x"``; ``args.amount > 100`` is ``context.amount > 100``;
  ``args.region in ["eu", "us"]`` is ``["eu", "us"].contains(context.region)``;
  ``&&``, ``||`` and ``!`` are the same in both.
* Enclosure takes the *first* matching rule (the tool's global rules, then its own);
  Cedar has no order (any ``forbid`` wins, else any ``permit``). So rule *k* becomes
  one Cedar policy whose ``when`` is its own condition *and the negation of every
  earlier rule's condition*: exactly one policy of a tool's chain can be satisfied,
  and it is the rule Enclosure picks. A global rule is one policy scoped with
  ``action in Action::"scope_<rule>"``, an action group whose members (in the
  entity store) are the tools it applies to; an earlier global rule that applies
  to only some of those tools is negated under an ``action in`` guard. (Listing the
  ~190 actions inline instead costs Cedar about 20 us per such policy.)
* ``then: deny`` is a ``forbid``. ``then: allow``, ``simulate`` and ``approve`` are a
  ``permit`` annotated ``@outcome("allow" | "simulate" | "approve")``: Cedar says the
  call may go ahead, and the caller reads how from the determining policy's
  annotation (simulate it, or park it for a human), as Enclosure's router does
  from the decision.
* "No rule matched" is one more ``permit`` per tool (the negation of all its rules)
  annotated with the tool's mode; a ``mode: deny`` tool, and any undeclared tool,
  has no policy at all, so Cedar's default deny applies.
* Every policy carries ``@id`` equal to Enclosure's rule path (``rules.sanctioned``,
  ``tools.tool_007.rules[1]``, ``tools.tool_007.mode``), so agreement is checked on
  the decision (allow/deny), the outcome and the rule, for every request.

Cedar has no state: rate limits and the kill switch have no Cedar counterpart, so
Enclosure does strictly more per decision here (it counts the call, checks every
window, hashes the arguments for the repeated-call limit and evaluates the kill
condition). Agreement on allow/deny must be 100%; anything else means the
translation is wrong.

Cedar is measured on its single-request path ``cedarpy.is_authorized`` with the
policies pre-parsed once into a ``cedarpy.PolicySet`` and the entities into a
``cedarpy.Entities`` handle, so no request pays for parsing either; the context is a
dict (cedarpy serialises it to JSON per call, as any Python caller's would be). The
per-request cost of ``is_authorized_batch`` over the whole workload is reported as
well, for reference only. Cedar's authorizer evaluates every policy in the set, so
its time grows with the set (about 1 us per policy here); a caller may slice the
set by action before asking, so a second reference figure hands Cedar only the
global policies and the requested tool's own (one pre-parsed ``PolicySet`` per
tool). The targets are judged against the full set, as specified.

Each decision is timed with ``time.perf_counter_ns`` after a warm-up on a separate
run state; the garbage collector stays on. Calls are ``--step-ms`` apart on the
engine's clock (100 ms by default: an agent waits on its model between calls);
the repeated-call limit scans every call in its window, so a shorter step makes
decisions slower.

The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import time
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, NamedTuple

import cedarpy
import yaml

from enclosure.manifest import load_manifest_text
from enclosure.models import Decision, ToolCall
from enclosure.policy import Policy, RunState, compile_policy

TOOLS = 200
DECISIONS = 20_000
WARMUP = 2_000
STEP_MS = 100.0
"""Time between two calls of the run: an agent waits on its model between calls."""
SEED = 20261125
TARGET_P99_US = 50.0
TARGET_RATIO = 0.5
PRINCIPAL = 'Agent::"billing"'

LOCALS = ("ana", "bo", "chen", "dee", "eli", "fay", "gus", "hana")
DOMAINS = (
    "@example.com",
    "@customers.example",
    "@partner.example",
    "@audit.example",
    "@evil.example",
    "@mail.test",
)
REGIONS = ("eu", "us", "apac", "latam", "ru", "kp", "ir")
AMOUNT_THRESHOLDS = (100, 1_000, 5_000, 20_000, 50_000)
PRIORITY_THRESHOLDS = (2, 3, 4)
OPS = (">", ">=", "<", "<=", "==")
OUTCOMES = ("allow", "deny", "simulate", "approve")
MODES = ("live", "simulate", "approve", "deny")


# ---- condition trees, rendered to CEL and to Cedar ------------------------------


def _str(value: str) -> str:
    return json.dumps(value)


@dataclass(frozen=True)
class Suffix:
    field: str
    suffix: str

    def cel(self) -> str:
        return f"args.{self.field}.endsWith({_str(self.suffix)})"

    def cedar(self) -> str:
        return f"context.{self.field} like {_str('*' + self.suffix)}"


@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    number: int

    def cel(self) -> str:
        return f"args.{self.field} {self.op} {self.number}"

    def cedar(self) -> str:
        return f"context.{self.field} {self.op} {self.number}"


@dataclass(frozen=True)
class OneOf:
    field: str
    values: tuple[str, ...]

    def cel(self) -> str:
        items = ", ".join(_str(v) for v in self.values)
        return f"args.{self.field} in [{items}]"

    def cedar(self) -> str:
        items = ", ".join(_str(v) for v in self.values)
        return f"[{items}].contains(context.{self.field})"


@dataclass(frozen=True)
class Not:
    inner: Cond

    def cel(self) -> str:
        return f"!({self.inner.cel()})"

    def cedar(self) -> str:
        return f"!({self.inner.cedar()})"


@dataclass(frozen=True)
class Both:
    op: str
    left: Cond
    right: Cond

    def cel(self) -> str:
        return f"({self.left.cel()}) {self.op} ({self.right.cel()})"

    def cedar(self) -> str:
        return f"({self.left.cedar()}) {self.op} ({self.right.cedar()})"


Cond = Suffix | Compare | OneOf | Not | Both


def _leaf(rng: random.Random) -> Cond:
    kind = rng.choice(("suffix", "amount", "priority", "region"))
    if kind == "suffix":
        return Suffix("to", rng.choice(DOMAINS))
    if kind == "amount":
        return Compare("amount", rng.choice(OPS), rng.choice(AMOUNT_THRESHOLDS))
    if kind == "priority":
        return Compare("priority", rng.choice(OPS), rng.choice(PRIORITY_THRESHOLDS))
    return OneOf("region", tuple(rng.sample(REGIONS, rng.randint(2, 3))))


def random_condition(rng: random.Random) -> Cond:
    """A leaf, a negated leaf, or two leaves joined by ``&&`` or ``||``."""
    roll = rng.random()
    if roll < 0.55:
        return _leaf(rng)
    if roll < 0.65:
        return Not(_leaf(rng))
    return Both(rng.choice(("&&", "||")), _leaf(rng), _leaf(rng))


# ---- the manifest and its Cedar twin ----------------------------------------------


class RuleDef(NamedTuple):
    path: str
    cond: Cond
    then: str


class GlobalDef(NamedTuple):
    rule: RuleDef
    tools: tuple[str, ...] | None
    effect: str | None


class ToolDef(NamedTuple):
    name: str
    effect: str
    mode: str
    rules: tuple[RuleDef, ...]
    per_recipient_limit: bool


class Spec(NamedTuple):
    tools: tuple[ToolDef, ...]
    globals: tuple[GlobalDef, ...]


def build_spec(rng: random.Random, n_tools: int) -> Spec:
    """Draw the tools, their rules and the global rules."""
    tools = []
    for i in range(n_tools):
        name = f"tool_{i:03d}"
        mode = rng.choices(MODES, weights=(70, 12, 12, 6))[0]
        rules = tuple(
            RuleDef(
                f"tools.{name}.rules[{k}]",
                random_condition(rng),
                rng.choices(OUTCOMES, weights=(4, 4, 1, 1))[0],
            )
            for k in range(rng.randint(2, 4))
        )
        tools.append(
            ToolDef(name, rng.choice(("read", "write")), mode, rules, i % 4 == 0)
        )
    listed = tuple(sorted(rng.sample([t.name for t in tools], n_tools // 6)))
    globals_ = (
        GlobalDef(
            RuleDef("rules.sanctioned", OneOf("region", ("kp", "ir")), "deny"),
            None,
            None,
        ),
        GlobalDef(
            RuleDef("rules.huge_writes", Compare("amount", ">", 95_000), "approve"),
            None,
            "write",
        ),
        GlobalDef(
            RuleDef("rules.audit_copies", Suffix("to", "@audit.example"), "simulate"),
            listed,
            None,
        ),
        GlobalDef(
            RuleDef(
                "rules.trusted_reads",
                Both(
                    "&&",
                    Suffix("to", "@example.com"),
                    Compare("priority", "<=", 2),
                ),
                "allow",
            ),
            None,
            "read",
        ),
    )
    return Spec(tuple(tools), globals_)


def _applies(g: GlobalDef, tool: ToolDef) -> bool:
    return (g.tools is None or tool.name in g.tools) and (
        g.effect is None or g.effect == tool.effect
    )


def manifest_yaml(spec: Spec) -> str:
    """The manifest as YAML text, for ``load_manifest_text``."""
    tools: dict[str, Any] = {}
    for t in spec.tools:
        rate: list[dict[str, Any]] = [{"limit": "1000000/minute"}]
        if t.per_recipient_limit:
            rate.append({"limit": "100000/hour", "key": "args.to"})
        tools[t.name] = {
            "description": f"benchmark tool {t.name}",
            "effect": t.effect,
            "mode": t.mode,
            "rules": [{"when": r.cond.cel(), "then": r.then} for r in t.rules],
            "rate": rate,
            "cost": 0.001,
        }
    rules = []
    for g in spec.globals:
        entry: dict[str, Any] = {
            "name": g.rule.path.removeprefix("rules."),
            "when": g.rule.cond.cel(),
            "then": g.rule.then,
        }
        if g.tools is not None:
            entry["tools"] = list(g.tools)
        if g.effect is not None:
            entry["effect"] = g.effect
        rules.append(entry)
    doc = {
        "version": 1,
        "agent": {"name": "billing", "description": "policy benchmark"},
        "tools": tools,
        "rules": rules,
        "kill_switch": {
            "max_calls": 100_000_000,
            "max_cost": 1e12,
            "max_denials": 100_000_000,
            "max_consecutive_errors": 1_000,
            "repeated_calls": {"max": 1_000, "window": "1m"},
            "conditions": [{"name": "runaway", "when": "run.denials > 50000000"}],
        },
    }
    return yaml.safe_dump(doc, sort_keys=False, width=200)


def _action(tool: str) -> str:
    return f'Action::"call_{tool}"'


def _cedar_policy(
    rule_id: str, outcome: str, scope: str, conds: list[str], resource: str
) -> str:
    effect = "forbid" if outcome == "deny" else "permit"
    notes = f"@id({_str(rule_id)})\n"
    if outcome != "deny":
        notes += f"@outcome({_str(outcome)})\n"
    when = " && ".join(f"({c})" for c in conds) if conds else "true"
    return (
        f"{notes}{effect} (principal == {PRINCIPAL}, {scope}, {resource})\n"
        f"when {{ {when} }};\n"
    )


def _scopes(spec: Spec) -> list[frozenset[str]]:
    """For each global rule, the tools it reaches (``mode: deny`` tools excepted)."""
    live = [t for t in spec.tools if t.mode != "deny"]
    return [frozenset(t.name for t in live if _applies(g, t)) for g in spec.globals]


def _group(g: GlobalDef) -> str:
    return f'Action::"scope_{g.rule.path.removeprefix("rules.")}"'


def _global_policies(spec: Spec) -> list[str]:
    """One policy per global rule, over the action group of the tools it reaches."""
    scopes = _scopes(spec)
    out: list[str] = []
    for j, g in enumerate(spec.globals):
        scope = scopes[j]
        if not scope:
            continue
        conds = [g.rule.cond.cedar()]
        for i in range(j):
            if not scopes[i] & scope:
                continue
            earlier = spec.globals[i].rule.cond.cedar()
            if scopes[i] >= scope:
                conds.append(f"!({earlier})")
            else:
                conds.append(f"!(action in {_group(spec.globals[i])} && ({earlier}))")
        scope_text = f"action in {_group(g)}"
        out.append(
            _cedar_policy(g.rule.path, g.rule.then, scope_text, conds, "resource")
        )
    return out


def _tool_policies(spec: Spec, tool: ToolDef) -> list[str]:
    """A tool's rule chain: each rule's policy, then the policy for its mode."""
    earlier = [g.rule.cond.cedar() for g in spec.globals if _applies(g, tool)]
    scope_text = f"action == {_action(tool.name)}"
    resource = f'resource == Tool::"{tool.name}"'
    out: list[str] = []
    for r in tool.rules:
        conds = [r.cond.cedar(), *(f"!({c})" for c in earlier)]
        out.append(_cedar_policy(r.path, r.then, scope_text, conds, resource))
        earlier.append(r.cond.cedar())
    mode = "allow" if tool.mode == "live" else tool.mode
    default = [f"!({c})" for c in earlier]
    path = f"tools.{tool.name}.mode"
    out.append(_cedar_policy(path, mode, scope_text, default, resource))
    return out


def cedar_policies(spec: Spec) -> list[tuple[str | None, str]]:
    """The Cedar policies equivalent to the manifest, each with the tool it is for
    (``None`` for a global rule's policy). A ``mode: deny`` tool gets none."""
    out: list[tuple[str | None, str]] = [(None, p) for p in _global_policies(spec)]
    for tool in spec.tools:
        if tool.mode != "deny":
            out += [(tool.name, p) for p in _tool_policies(spec, tool)]
    return out


def sliced_policy_sets(
    policies: list[tuple[str | None, str]], spec: Spec
) -> dict[str, cedarpy.PolicySet]:
    """One pre-parsed set per tool: the global policies plus that tool's own, which is
    what a caller that slices policies by action would hand Cedar. Keyed by tool;
    ``""`` holds the global policies alone, for undeclared tools."""
    shared = [text for tool, text in policies if tool is None]
    own: dict[str, list[str]] = {t.name: [] for t in spec.tools}
    for tool, text in policies:
        if tool is not None:
            own[tool].append(text)
    sets = {
        name: cedarpy.PolicySet.from_str("\n".join(shared + texts))
        for name, texts in own.items()
    }
    sets[""] = cedarpy.PolicySet.from_str("\n".join(shared))
    return sets


def _uid(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "id": name}


def cedar_entities(spec: Spec) -> str:
    """Cedar JSON entities: the principal, one ``Tool`` per declared tool, and one
    ``Action`` per tool whose parents are the action groups of the global rules
    that reach it (the idiomatic form of a rule over many actions)."""
    scopes = _scopes(spec)
    groups = [
        (scope, _group(g).split('"')[1])
        for g, scope in zip(spec.globals, scopes, strict=True)
    ]
    entities: list[dict[str, Any]] = [
        {"uid": _uid("Agent", "billing"), "attrs": {}, "parents": []}
    ]
    entities += [
        {"uid": _uid("Action", name), "attrs": {}, "parents": []} for _, name in groups
    ]
    for t in spec.tools:
        entities.append({"uid": _uid("Tool", t.name), "attrs": {}, "parents": []})
        parents = [_uid("Action", name) for scope, name in groups if t.name in scope]
        entities.append(
            {"uid": _uid("Action", f"call_{t.name}"), "attrs": {}, "parents": parents}
        )
    return json.dumps(entities)


# ---- the workload -----------------------------------------------------------------


def workload(
    rng: random.Random, spec: Spec, n: int
) -> list[tuple[ToolCall, dict[str, Any]]]:
    """``n`` calls, each as an Enclosure ``ToolCall`` and a Cedar request."""
    names = [t.name for t in spec.tools]
    out = []
    for _ in range(n):
        tool = "tool_undeclared" if rng.random() < 0.01 else rng.choice(names)
        amount = (
            rng.randint(90_000, 100_000)
            if rng.random() < 0.1
            else rng.randint(0, 60_000)
        )
        args = {
            "to": rng.choice(LOCALS) + rng.choice(DOMAINS),
            "amount": amount,
            "region": rng.choices(REGIONS, weights=(30, 30, 15, 10, 5, 5, 5))[0],
            "priority": rng.randint(1, 5),
        }
        call = ToolCall(tool=tool, args=args)
        request = {
            "principal": PRINCIPAL,
            "action": _action(tool),
            "resource": f'Tool::"{tool}"',
            "context": args,
        }
        out.append((call, request))
    return out


# ---- measuring --------------------------------------------------------------------


class Stats(NamedTuple):
    p50: float
    p90: float
    p99: float
    p999: float
    mean: float

    def line(self) -> str:
        return (
            f"p50 {self.p50:.1f} us  p90 {self.p90:.1f} us  p99 {self.p99:.1f} us  "
            f"p99.9 {self.p999:.1f} us  mean {self.mean:.1f} us"
        )


def summarize(times_ns: list[int]) -> Stats:
    """Nearest-rank percentiles and the mean, in microseconds."""
    ordered = sorted(times_ns)

    def pct(q: float) -> float:
        return ordered[max(1, math.ceil(q * len(ordered))) - 1] / 1000

    mean = sum(ordered) / len(ordered) / 1000
    return Stats(pct(0.50), pct(0.90), pct(0.99), pct(0.999), mean)


def run_enclosure(
    policy: Policy, calls: list[ToolCall], step_s: float
) -> tuple[list[int], list[Decision]]:
    """Decide every call on a fresh run state, ``step_s`` apart; time each call."""
    state = RunState("run_bench", "billing", "benchmark", 0.0)
    clock = time.perf_counter_ns
    decide = policy.decide
    times: list[int] = []
    decisions: list[Decision] = []
    now = 0.0
    for call in calls:
        now += step_s
        t0 = clock()
        decision = decide(call, state, now)
        t1 = clock()
        times.append(t1 - t0)
        decisions.append(decision)
    return times, decisions


def run_cedar(
    requests: list[dict[str, Any]],
    policies: cedarpy.PolicySet,
    entities: cedarpy.Entities,
) -> tuple[list[int], list[cedarpy.AuthzResult]]:
    """Authorise every request one by one; time each ``is_authorized``."""
    clock = time.perf_counter_ns
    is_authorized = cedarpy.is_authorized
    times: list[int] = []
    results: list[cedarpy.AuthzResult] = []
    for request in requests:
        t0 = clock()
        result = is_authorized(request, policies, entities)
        t1 = clock()
        times.append(t1 - t0)
        results.append(result)
    return times, results


def run_cedar_sliced(
    calls: list[ToolCall],
    requests: list[dict[str, Any]],
    sets: dict[str, cedarpy.PolicySet],
    entities: cedarpy.Entities,
) -> tuple[list[int], list[bool]]:
    """As ``run_cedar``, but each request gets only its tool's slice (the lookup of
    the slice is inside the timed region)."""
    clock = time.perf_counter_ns
    is_authorized = cedarpy.is_authorized
    shared = sets[""]
    times: list[int] = []
    allowed: list[bool] = []
    for call, request in zip(calls, requests, strict=True):
        t0 = clock()
        result = is_authorized(request, sets.get(call.tool, shared), entities)
        t1 = clock()
        times.append(t1 - t0)
        allowed.append(result.allowed)
    return times, allowed


class Agreement(NamedTuple):
    decision: float
    outcome: float
    rule: float
    examples: list[str]


def outcome_annotations(policies: str) -> dict[str, str]:
    """Map Cedar's policy ids (``policy0`` ...) to their ``@outcome`` annotation."""
    static = cedarpy.policies_to_pst(policies).static_policies
    return {pid: p.annotations.get("outcome", "deny") for pid, p in static.items()}


def _cedar_view(
    result: cedarpy.AuthzResult, outcome_of: dict[str, str]
) -> tuple[str, list[str]]:
    """Cedar's outcome (from the determining policy's annotation) and rule ids."""
    ids = result.diagnostics.id_annotations_by_reason
    if not result.allowed:
        return "deny", sorted(ids.values())
    outcomes = {outcome_of.get(pid, "?") for pid in ids}
    return (outcomes.pop() if len(outcomes) == 1 else "?"), sorted(ids.values())


def _allowed(decision: Decision) -> bool:
    return decision.outcome in ("allow", "simulate", "approve")


def compare(
    decisions: list[Decision],
    results: list[cedarpy.AuthzResult],
    outcome_of: dict[str, str],
) -> Agreement:
    """Compare allow/deny, the outcome and the deciding rule for each request.

    A Cedar deny with no satisfied ``forbid`` must match Enclosure's
    ``default-deny`` or a ``mode: deny`` tool; any other deny must name the same
    rule, and an allow must come from exactly the policy of Enclosure's rule.
    """
    same_decision = same_outcome = same_rule = 0
    examples: list[str] = []
    for d, r in zip(decisions, results, strict=True):
        outcome, rules = _cedar_view(r, outcome_of)
        no_rule = d.rule == "default-deny" or (
            d.outcome == "deny" and d.rule.endswith(".mode")
        )
        ok_decision = _allowed(d) == r.allowed and not r.diagnostics.errors
        ok_outcome = ok_decision and outcome == d.outcome
        ok_rule = ok_decision and rules == ([] if no_rule else [d.rule])
        same_decision += ok_decision
        same_outcome += ok_outcome
        same_rule += ok_rule
        if not (ok_decision and ok_outcome and ok_rule) and len(examples) < 5:
            examples.append(
                f"{d.tool}: enclosure {d.outcome} by {d.rule}; cedar "
                f"{r.decision.value} ({outcome}) by {rules} {r.diagnostics.errors}"
            )
    n = len(decisions)
    return Agreement(same_decision / n, same_outcome / n, same_rule / n, examples)


def profile_enclosure(policy: Policy, calls: list[ToolCall], step_s: float) -> str:
    """cProfile of the decide loop: the top entries by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_enclosure(policy, calls, step_s)
    profiler.disable()
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(15)
    return buf.getvalue()


# ---- the run ----------------------------------------------------------------------


class Setup(NamedTuple):
    spec: Spec
    manifest_bytes: int
    policy: Policy
    load_ms: float
    cedar_text: str
    cedar_policies: int
    policy_set: cedarpy.PolicySet
    sliced: dict[str, cedarpy.PolicySet]
    entities: cedarpy.Entities
    cedar_load_ms: float
    calls: list[ToolCall]
    requests: list[dict[str, Any]]


def setup(seed: int, n_tools: int, n_decisions: int) -> Setup:
    """Generate the manifest, its Cedar twin and the workload; parse both once."""
    rng = random.Random(seed)
    spec = build_spec(rng, n_tools)
    text = manifest_yaml(spec)
    t0 = time.perf_counter()
    policy = compile_policy(load_manifest_text(text, "benchmark.yaml"))
    load_ms = (time.perf_counter() - t0) * 1000
    policies = cedar_policies(spec)
    cedar_text = "\n".join(p for _, p in policies)
    t0 = time.perf_counter()
    policy_set = cedarpy.PolicySet.from_str(cedar_text)
    entities = cedarpy.Entities.from_json_str(cedar_entities(spec))
    cedar_load_ms = (time.perf_counter() - t0) * 1000
    items = workload(rng, spec, n_decisions)
    return Setup(
        spec,
        len(text.encode("utf-8")),
        policy,
        load_ms,
        cedar_text,
        len(policies),
        policy_set,
        sliced_policy_sets(policies, spec),
        entities,
        cedar_load_ms,
        [c for c, _ in items],
        [r for _, r in items],
    )


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--decisions", type=int, default=DECISIONS)
    parser.add_argument("--tools", type=int, default=TOOLS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--step-ms",
        type=float,
        default=STEP_MS,
        help="time between two calls of the run, on the engine's clock",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of decide"
    )
    return parser.parse_args()


def main() -> None:
    opts = _options()
    s = setup(opts.seed, opts.tools, opts.decisions)
    step_s = opts.step_ms / 1000
    warm = min(WARMUP, len(s.calls))

    run_enclosure(s.policy, s.calls[:warm], step_s)
    run_cedar(s.requests[:warm], s.policy_set, s.entities)
    run_cedar_sliced(s.calls[:warm], s.requests[:warm], s.sliced, s.entities)
    ours_ns, decisions = run_enclosure(s.policy, s.calls, step_s)
    cedar_ns, results = run_cedar(s.requests, s.policy_set, s.entities)
    sliced_ns, sliced_allowed = run_cedar_sliced(
        s.calls, s.requests, s.sliced, s.entities
    )
    t0 = time.perf_counter_ns()
    cedarpy.is_authorized_batch(s.requests, s.policy_set, s.entities)
    batch_us = (time.perf_counter_ns() - t0) / 1000 / len(s.requests)

    agreement = compare(decisions, results, outcome_annotations(s.cedar_text))
    sliced_agree = sum(
        _allowed(d) == a for d, a in zip(decisions, sliced_allowed, strict=True)
    ) / len(decisions)
    ours, cedar, sliced = summarize(ours_ns), summarize(cedar_ns), summarize(sliced_ns)
    outcomes: dict[str, int] = {}
    for d in decisions:
        outcomes[d.outcome] = outcomes.get(d.outcome, 0) + 1
    pass_abs = ours.p99 <= TARGET_P99_US
    pass_rel = ours.p99 <= TARGET_RATIO * cedar.p99

    print(
        f"manifest: {opts.tools} tools, {len(s.spec.globals)} global rules, "
        f"{s.manifest_bytes} bytes of YAML; load+compile {s.load_ms:.0f} ms"
    )
    print(
        f"cedar: {s.cedar_policies} policies; PolicySet+Entities parsed once in "
        f"{s.cedar_load_ms:.0f} ms"
    )
    print(
        f"workload: {len(decisions)} decisions (+{warm} warm-up), "
        f"{opts.step_ms:g} ms apart; outcomes {outcomes}"
    )
    print(f"enclosure decide:            {ours.line()}")
    print(f"cedar is_authorized:         {cedar.line()}")
    print(f"cedar, sliced per tool:      {sliced.line()}  (reference)")
    print(f"cedar is_authorized_batch:   {batch_us:.1f} us per request (reference)")
    print(
        f"ratio enclosure/cedar: p99 {ours.p99 / cedar.p99:.2f}  "
        f"p50 {ours.p50 / cedar.p50:.2f}; against sliced cedar: "
        f"p99 {ours.p99 / sliced.p99:.2f}"
    )
    print(
        f"agreement: allow/deny {agreement.decision:.2%}  outcome "
        f"{agreement.outcome:.2%}  rule {agreement.rule:.2%}  "
        f"(sliced cedar allow/deny {sliced_agree:.2%})"
    )
    for example in agreement.examples:
        print(f"  disagreement: {example}")
    verdict = {True: "PASS", False: "FAIL"}
    print(f"target enclosure p99 <= {TARGET_P99_US:g} us: {verdict[pass_abs]}")
    print(
        f"target enclosure p99 <= {TARGET_RATIO:g} x cedar p99 "
        f"({TARGET_RATIO * cedar.p99:.1f} us): {verdict[pass_rel]}"
    )
    if opts.profile:
        print(profile_enclosure(s.policy, s.calls, step_s))

    print(
        json.dumps(
            {
                "benchmark": "policy",
                "decisions": len(decisions),
                "tools": opts.tools,
                "cedar_policies": s.cedar_policies,
                "seed": opts.seed,
                "step_ms": opts.step_ms,
                "enclosure_p50_us": round(ours.p50, 2),
                "enclosure_p99_us": round(ours.p99, 2),
                "enclosure_mean_us": round(ours.mean, 2),
                "cedar_p50_us": round(cedar.p50, 2),
                "cedar_p99_us": round(cedar.p99, 2),
                "cedar_mean_us": round(cedar.mean, 2),
                "cedar_sliced_p50_us": round(sliced.p50, 2),
                "cedar_sliced_p99_us": round(sliced.p99, 2),
                "cedar_batch_us_per_request": round(batch_us, 2),
                "ratio_p99": round(ours.p99 / cedar.p99, 3),
                "ratio_p50": round(ours.p50 / cedar.p50, 3),
                "agreement": agreement.decision,
                "outcome_agreement": agreement.outcome,
                "rule_agreement": agreement.rule,
                "sliced_agreement": sliced_agree,
                "target_p99_le_50us": pass_abs,
                "target_p99_le_half_cedar": pass_rel,
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
                "cedarpy": version("cedarpy"),
                "cel": version("common-expression-language"),
            }
        )
    )


if __name__ == "__main__":
    main()
