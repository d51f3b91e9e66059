"""Compare what a shadow agent proposed with what people actually did.

Per case, proposed and actual actions are paired by name in order: a pair is a
true positive (its arguments may still differ), an unpaired proposal a false
action, an unpaired actual action a missed one. A case agrees when it has none of
the three. Rates come with Wilson score intervals, which stay inside [0, 1] and
behave at 0 and 100 % where the normal approximation does not.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ACTION_COLUMNS",
    "NONE",
    "Action",
    "ActionStats",
    "ArgDiff",
    "Interval",
    "ShadowReport",
    "action_rows",
    "compare",
    "percent",
    "wilson",
]

NONE = "none"
"""The action of a case where nothing was done."""
EXAMPLES = 200
"""Most examples of each kind kept for display; the counts are always complete."""


class Interval(NamedTuple):
    """A rate and its 95 % Wilson score interval; ``rate`` is None for 0 of 0."""

    hits: int
    total: int
    rate: float | None
    low: float
    high: float


def wilson(hits: int, total: int, z: float = 1.959964) -> Interval:
    """The Wilson score interval for ``hits`` out of ``total``.

    >>> round(wilson(95, 100).low, 3), round(wilson(95, 100).high, 3)
    (0.888, 0.978)
    """
    if total == 0:
        return Interval(0, 0, None, 0.0, 1.0)
    p = hits / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    half /= 1 + z2 / total
    return Interval(hits, total, p, max(0.0, centre - half), min(1.0, centre + half))


class Action(NamedTuple):
    """One action on one case: proposed by the agent or done by a person."""

    case_id: str
    action: str
    args: dict[str, Any]


class ArgDiff(NamedTuple):
    """An argument of a paired action whose values differ (None: absent)."""

    case_id: str
    action: str
    arg: str
    proposed: Any
    actual: Any


@dataclass
class ActionStats:
    """Counts for one action name over every compared case."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    args_differ: int = 0
    """True positives whose arguments differ."""
    cases: int = 0
    """Cases in which it was proposed or done."""
    agreed: int = 0
    """Of those, cases where proposal and action match exactly for it."""

    @property
    def precision(self) -> Interval:
        return wilson(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> Interval:
        return wilson(self.tp, self.tp + self.fn)

    @property
    def agreement(self) -> Interval:
        return wilson(self.agreed, self.cases)


@dataclass
class ShadowReport:
    """The comparison; lists of examples are cut at ``EXAMPLES``, counts are not."""

    cases: int = 0
    agreed: int = 0
    actions: dict[str, ActionStats] = field(default_factory=dict)
    false_actions: list[Action] = field(default_factory=list)
    missed_actions: list[Action] = field(default_factory=list)
    arg_diffs: list[ArgDiff] = field(default_factory=list)
    false_count: int = 0
    missed_count: int = 0
    arg_diff_count: int = 0
    unmatched_cases: int = 0
    """Cases the agent ran in shadow with no imported outcome (not compared)."""

    @property
    def agreement(self) -> Interval:
        return wilson(self.agreed, self.cases)


def _group(actions: Iterable[Action]) -> dict[str, list[Action]]:
    grouped: dict[str, list[Action]] = defaultdict(list)
    for a in actions:
        if a.action == NONE:
            grouped.setdefault(a.case_id, [])
        else:
            grouped[a.case_id].append(a)
    return grouped


def _diffs(
    case_id: str, name: str, p: dict[str, Any], a: dict[str, Any]
) -> list[ArgDiff]:
    if p == a:
        return []
    return [
        ArgDiff(case_id, name, k, p.get(k), a.get(k))
        for k in sorted(p.keys() | a.keys())
        if p.get(k) != a.get(k)
    ]


def compare(
    proposed: Iterable[Action], actual: Iterable[Action], ran: Iterable[str]
) -> ShadowReport:
    """Compare proposals with outcomes on every case that has both.

    Args:
        proposed: the writes shadow runs proposed.
        actual: what people did (``NONE`` for a case with no action).
        ran: case ids the agent ran in shadow; a case with an outcome that the
            agent never ran is not compared, one the agent ran that has no
            outcome is counted in ``unmatched_cases``.
    """
    by_case_p = _group(proposed)
    by_case_a = _group(actual)
    ran_set = set(ran) | set(by_case_p)
    report = ShadowReport(unmatched_cases=len(ran_set - by_case_a.keys()))
    stats = report.actions
    for case_id in sorted(ran_set & by_case_a.keys()):
        report.cases += 1
        ok = True
        p_by: dict[str, list[Action]] = defaultdict(list)
        a_by: dict[str, list[Action]] = defaultdict(list)
        for p in by_case_p.get(case_id, ()):
            p_by[p.action].append(p)
        for a in by_case_a[case_id]:
            a_by[a.action].append(a)
        for name in p_by.keys() | a_by.keys():
            st = stats.get(name)
            if st is None:
                st = stats[name] = ActionStats()
            ps, acts = p_by.get(name, []), a_by.get(name, [])
            st.cases += 1
            pairs = min(len(ps), len(acts))
            st.tp += pairs
            differ = 0
            for p, a in zip(ps, acts, strict=False):
                diffs = _diffs(case_id, name, p.args, a.args)
                if diffs:
                    differ += 1
                    report.arg_diff_count += len(diffs)
                    room = EXAMPLES - len(report.arg_diffs)
                    report.arg_diffs.extend(diffs[: max(room, 0)])
            st.args_differ += differ
            extra, missed = ps[pairs:], acts[pairs:]
            st.fp += len(extra)
            st.fn += len(missed)
            report.false_count += len(extra)
            report.missed_count += len(missed)
            room = EXAMPLES - len(report.false_actions)
            report.false_actions.extend(extra[: max(room, 0)])
            room = EXAMPLES - len(report.missed_actions)
            report.missed_actions.extend(missed[: max(room, 0)])
            if extra or missed or differ:
                ok = False
            else:
                st.agreed += 1
        report.agreed += ok
    report.actions = dict(sorted(stats.items()))
    return report


ACTION_COLUMNS = (
    "action",
    "tp",
    "false",
    "missed",
    "args differ",
    "precision",
    "recall",
)
"""The per-action table's columns, in the terminal and in HTML."""


def percent(i: Interval) -> str:
    """``i`` as text: the rate and its interval, or ``n/a`` for 0 of 0."""
    if i.rate is None:
        return "n/a"
    return f"{i.rate:.1%} [{i.low:.1%}, {i.high:.1%}]"


def action_rows(report: ShadowReport) -> list[list[str]]:
    """The per-action table's rows, as text (see ``ACTION_COLUMNS``)."""
    return [
        [
            name,
            str(s.tp),
            str(s.fp),
            str(s.fn),
            str(s.args_differ),
            percent(s.precision),
            percent(s.recall),
        ]
        for name, s in report.actions.items()
    ]
