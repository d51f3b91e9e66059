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
  ``action in [...]`` over the tools it applies to; an earlier global rule that
  applies to only some of those tools is negated under an ``action in`` guard.
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
well, for reference only. Each decision is timed with ``time.perf_counter_ns``
after a warm-up on a separate run state; the garbage collector stays on.

The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
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


def cedar_policies(spec: Spec) -> tuple[str, int]:
    """The Cedar policy text equivalent to the manifest, and its policy count."""
    live = [t for t in spec.tools if t.mode != "deny"]
    scopes = [frozenset(t.name for t in live if _applies(g, t)) for g in spec.globals]
    out: list[str] = []
    for j, g in enumerate(spec.globals):
        scope = scopes[j]
        if not scope:
            continue
        conds = [g.rule.cond.cedar()]
        for i in range(j):
            overlap = scopes[i] & scope
            if not overlap:
                continue
            earlier = spec.globals[i].rule.cond.cedar()
            if overlap == scope:
                conds.append(f"!({earlier})")
            else:
                names = ", ".join(_action(n) for n in sorted(overlap))
                conds.append(f"!(action in [{names}] && ({earlier}))")
        actions = ", ".join(_action(n) for n in sorted(scope))
        out.append(
            _cedar_policy(
                g.rule.path, g.rule.then, f"action in [{actions}]", conds, "resource"
            )
        )
    for t in live:
        earlier = [g.rule.cond.cedar() for g in spec.globals if _applies(g, t)]
        scope = f"action == {_action(t.name)}"
        resource = f'resource == Tool::"{t.name}"'
        for r in t.rules:
            conds = [r.cond.cedar(), *(f"!({c})" for c in earlier)]
            out.append(_cedar_policy(r.path, r.then, scope, conds, resource))
            earlier.append(r.cond.cedar())
        mode = "allow" if t.mode == "live" else t.mode
        default = [f"!({c})" for c in earlier]
        out.append(
            _cedar_policy(f"tools.{t.name}.mode", mode, scope, default, resource)
        )
    return "\n".join(out), len(out)


def cedar_entities(spec: Spec) -> str:
    """The principal and one ``Tool`` entity per declared tool, as Cedar JSON."""
    entities: list[dict[str, Any]] = [
        {"uid": {"type": "Agent", "id": "billing"}, "attrs": {}, "parents": []}
    ]
    entities += [
        {"uid": {"type": "Tool", "id": t.name}, "attrs": {}, "parents": []}
        for t in spec.tools
    ]
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
            rng.randint(90_000, 100_000) if rng.random() < 0.1 else rng.randint(0, 60_000)
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


def percentile(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in microseconds."""
    rank = max(1, math.ceil(q * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1000


def run_enclosure(
    policy: Policy, calls: list[ToolCall], step_s: float = 0.001
) -> tuple[list[int], list[Decision]]:
    """Decide every call on a fresh run state; time each ``decide``."""
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
        ours_allowed = d.outcome in ("allow", "simulate", "approve")
        ok_decision = ours_allowed == r.allowed and not r.diagnostics.errors
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


def profile_enclosure(policy: Policy, calls: list[ToolCall]) -> str:
    """cProfile of the decide loop: the top entries by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_enclosure(policy, calls)
    profiler.disable()
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(18)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=DECISIONS)
    parser.add_argument("--tools", type=int, default=TOOLS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of decide"
    )
    opts = parser.parse_args()

    rng = random.Random(opts.seed)
    spec = build_spec(rng, opts.tools)
    text = manifest_yaml(spec)
    t0 = time.perf_counter()
    manifest = load_manifest_text(text, "benchmark.yaml")
    policy = compile_policy(manifest)
    load_s = time.perf_counter() - t0
    cedar_text, n_policies = cedar_policies(spec)
    t0 = time.perf_counter()
    policy_set = cedarpy.PolicySet.from_str(cedar_text)
    entities = cedarpy.Entities.from_json_str(cedar_entities(spec))
    cedar_load_s = time.perf_counter() - t0
    outcome_of = outcome_annotations(cedar_text)

    items = workload(rng, spec, opts.decisions)
    calls = [c for c, _ in items]
    requests = [r for _, r in items]
    warm = min(WARMUP, len(items))

    run_enclosure(policy, calls[:warm])
    run_cedar(requests[:warm], policy_set, entities)
    ours_ns, decisions = run_enclosure(policy, calls)
    cedar_ns, results = run_cedar(requests, policy_set, entities)
    t0 = time.perf_counter_ns()
    cedarpy.is_authorized_batch(requests, policy_set, entities)
    batch_us = (time.perf_counter_ns() - t0) / 1000 / len(requests)

    agreement = compare(decisions, results, outcome_of)
    ours, theirs = sorted(ours_ns), sorted(cedar_ns)
    e50, e99 = percentile(ours, 0.50), percentile(ours, 0.99)
    c50, c99 = percentile(theirs, 0.50), percentile(theirs, 0.99)
    outcomes: dict[str, int] = {}
    for d in decisions:
        outcomes[d.outcome] = outcomes.get(d.outcome, 0) + 1
    pass_abs = e99 <= TARGET_P99_US
    pass_rel = e99 <= TARGET_RATIO * c99

    print(f"manifest: {opts.tools} tools, {len(manifest.rules)} global rules, "
          f"{len(text)} bytes of YAML; load+compile {load_s * 1000:.0f} ms")
    print(f"cedar: {n_policies} policies; PolicySet+Entities parse "
          f"{cedar_load_s * 1000:.0f} ms (once)")
    print(f"workload: {len(items)} decisions (+{warm} warm-up), outcomes {outcomes}")
    print(f"enclosure decide: p50 {e50:.1f} us  p90 {percentile(ours, 0.9):.1f} us  "
          f"p99 {e99:.1f} us  p99.9 {percentile(ours, 0.999):.1f} us  "
          f"mean {sum(ours) / len(ours) / 1000:.1f} us")
    print(f"cedar is_authorized: p50 {c50:.1f} us  p90 {percentile(theirs, 0.9):.1f} us  "
          f"p99 {c99:.1f} us  p99.9 {percentile(theirs, 0.999):.1f} us  "
          f"mean {sum(theirs) / len(theirs) / 1000:.1f} us")
    print(f"cedar is_authorized_batch (reference): {batch_us:.1f} us per request")
    print(f"ratio p99 enclosure/cedar: {e99 / c99:.2f}  p50: {e50 / c50:.2f}")
    print(f"agreement: decision {agreement.decision:.2%}  outcome "
          f"{agreement.outcome:.2%}  rule {agreement.rule:.2%}")
    for example in agreement.examples:
        print(f"  disagreement: {example}")
    print(f"target p99 <= {TARGET_P99_US:g} us: {'PASS' if pass_abs else 'FAIL'}")
    print(f"target p99 <= {TARGET_RATIO:g} x cedar p99: {'PASS' if pass_rel else 'FAIL'}")
    if opts.profile:
        print(profile_enclosure(policy, calls))

    print(
        json.dumps(
            {
                "benchmark": "policy",
                "decisions": len(items),
                "tools": opts.tools,
                "cedar_policies": n_policies,
                "seed": opts.seed,
                "enclosure_p50_us": round(e50, 2),
                "enclosure_p99_us": round(e99, 2),
                "enclosure_mean_us": round(sum(ours) / len(ours) / 1000, 2),
                "cedar_p50_us": round(c50, 2),
                "cedar_p99_us": round(c99, 2),
                "cedar_mean_us": round(sum(theirs) / len(theirs) / 1000, 2),
                "cedar_batch_us_per_request": round(batch_us, 2),
                "ratio_p99": round(e99 / c99, 3),
                "ratio_p50": round(e50 / c50, 3),
                "agreement": agreement.decision,
                "outcome_agreement": agreement.outcome,
                "rule_agreement": agreement.rule,
                "target_p99_le_50us": pass_abs,
                "target_p99_le_half_cedar": pass_rel,
                "python": platform.python_version(),
                "cedarpy": version("cedarpy"),
                "cel": version("common-expression-language"),
            }
        )
    )


if __name__ == "__main__":
    main()
