"""The narrowest manifest that would have allowed the observed good runs.

Input is what good runs did (their allowed calls and egress requests); output is
a list of lines, each a change against the current manifest with its evidence:
tools never used go, arguments that took few values get an allow-list, numbers
and strings a ceiling with headroom, rates the busiest minute seen with headroom,
and each principal's hosts, methods and path prefixes become network rules.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable

    from enclosure.manifest import Manifest

__all__ = ["Call", "Request", "Suggestion", "suggest"]

HEADROOM = 1.5
MAX_ENUM = 5
"""An argument with at most this many distinct values becomes an allow-list..."""
MIN_CALLS_FOR_ENUM = 3
"""...once it has been seen this often."""


class Call(NamedTuple):
    """An allowed call of a good run; ``at`` in seconds."""

    run_id: str
    tool: str
    args: dict[str, Any]
    at: float


class Request(NamedTuple):
    """An allowed egress request of a good run."""

    run_id: str
    principal: str
    method: str
    host: str
    path: str


class Suggestion(NamedTuple):
    """One line of the diff: ``-`` remove, ``+`` add, ``~`` tighten."""

    op: str
    path: str
    value: str
    evidence: str

    def format(self) -> str:
        return f"{self.op} {self.path}: {self.value}    # {self.evidence}"


def _busiest_minute(times: list[float]) -> int:
    times.sort()
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 60:  # noqa: PLR2004 -- one minute
            start += 1
        best = max(best, end - start + 1)
    return best


def _arg_lines(tool: str, calls: list[Call]) -> list[Suggestion]:
    values: dict[str, list[Any]] = defaultdict(list)
    for c in calls:
        for k, v in c.args.items():
            values[k].append(v)
    lines = []
    for arg, seen in sorted(values.items()):
        where = f"tools.{tool}.args.{arg}"
        scalars = [v for v in seen if isinstance(v, str | int | float)]
        distinct = sorted({repr(v) for v in scalars})
        n = len(seen)
        if len(scalars) == n and n >= MIN_CALLS_FOR_ENUM and len(distinct) <= MAX_ENUM:
            lines.append(
                Suggestion(
                    "+",
                    where,
                    f"one of [{', '.join(distinct)}]",
                    f"{len(distinct)} distinct values in {n} calls",
                )
            )
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in seen):
            top = max(seen)
            lines.append(
                Suggestion(
                    "+",
                    where,
                    f"<= {top * HEADROOM:g}",
                    f"largest seen {top:g} in {n} calls (x{HEADROOM} headroom)",
                )
            )
        elif all(isinstance(v, str) for v in seen):
            longest = max(len(v) for v in seen)
            cap = max(1, math.ceil(longest * HEADROOM))
            lines.append(
                Suggestion(
                    "+",
                    where,
                    f"maxLength {cap}",
                    f"longest seen {longest} chars in {n} calls (x{HEADROOM} headroom)",
                )
            )
    return lines


def _path_prefix(paths: list[str]) -> str:
    parts = [p.split("?")[0].split("/") for p in paths]
    common = []
    for segs in zip(*parts, strict=False):
        if len(set(segs)) != 1:
            break
        common.append(segs[0])
    prefix = "/".join(common)
    if all(len(p) == len(common) for p in parts):
        return prefix or "/"
    return (prefix.rstrip("/") + "/**") if prefix else "/**"


def _network_lines(manifest: Manifest, requests: list[Request]) -> list[Suggestion]:
    grouped: dict[tuple[str, str], list[Request]] = defaultdict(list)
    for r in requests:
        grouped[(r.principal, r.host)].append(r)
    lines = []
    for (principal, host), reqs in sorted(grouped.items()):
        methods = sorted({r.method for r in reqs})
        prefix = _path_prefix([r.path for r in reqs])
        value = (
            f"{{host: {host}, tools: [{principal}], "
            f"methods: [{', '.join(methods)}], paths: [{prefix}]}}"
        )
        current = [
            rule
            for rule in manifest.network.rules
            if rule.host == host and (not rule.tools or principal in rule.tools)
        ]
        op = "~" if current else "+"
        lines.append(
            Suggestion(
                op,
                "network.rules",
                value,
                f"{len(reqs)} requests by {principal} in "
                f"{len({r.run_id for r in reqs})} runs",
            )
        )
    return lines


def suggest(
    manifest: Manifest, calls: Iterable[Call], requests: Iterable[Request], runs: int
) -> list[Suggestion]:
    """Lines that narrow ``manifest`` to what ``runs`` good runs needed."""
    by_tool: dict[str, list[Call]] = defaultdict(list)
    for c in calls:
        by_tool[c.tool].append(c)
    lines = [
        Suggestion("-", f"tools.{tool}", "remove", f"never called in {runs} runs")
        for tool in manifest.tools
        if tool not in by_tool
    ]
    for tool, tcalls in sorted(by_tool.items()):
        if tool not in manifest.tools:
            continue  # denied by default; a good run cannot have used it
        lines += _arg_lines(tool, tcalls)
        per_run: dict[str, list[float]] = defaultdict(list)
        for c in tcalls:
            per_run[c.run_id].append(c.at)
        busiest = max(_busiest_minute(ts) for ts in per_run.values())
        limit = max(1, math.ceil(busiest * HEADROOM))
        current = ", ".join(r.limit for r in manifest.tools[tool].rate) or "none"
        lines.append(
            Suggestion(
                "~" if manifest.tools[tool].rate else "+",
                f"tools.{tool}.rate",
                f"{limit}/minute",
                f"busiest minute {busiest} calls (x{HEADROOM} headroom); now {current}",
            )
        )
    per_run_calls = Counter(c.run_id for tcalls in by_tool.values() for c in tcalls)
    if per_run_calls:
        top = max(per_run_calls.values())
        lines.append(
            Suggestion(
                "~" if manifest.kill_switch.max_calls else "+",
                "kill_switch.max_calls",
                str(math.ceil(top * HEADROOM)),
                f"most calls in one run {top}; now "
                f"{manifest.kill_switch.max_calls or 'unlimited'}",
            )
        )
    return lines + _network_lines(manifest, list(requests))
