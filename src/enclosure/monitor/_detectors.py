"""Anomaly detectors: pure functions of the event stream and an injected time.

Each detector sees every event once (``observe(event, now)``, ``now`` on the
caller's monotonic clock) and returns the findings it makes. They keep small
per-run windows and never touch a file, a socket or the wall clock; the monitor
(``_monitor``) turns a finding into an alert event, notifications and a kill.

Baselines are the agent's own: a call rate against the run's earlier rate, and a
tool or egress host against those the agent used in earlier runs (``seen``).
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import TYPE_CHECKING, NamedTuple

from enclosure.audit._events import (
    DecisionEvent,
    EgressEvent,
    Event,
    ResultEvent,
    RunStartedEvent,
    UsageEvent,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from enclosure.manifest import DetectorsSpec

__all__ = ["Finding", "build_detectors"]


class Finding(NamedTuple):
    """One anomaly: which detector, which run, what, and whether to kill."""

    detector: str
    run_id: str
    message: str
    kill: bool


class _Windows:
    """Per-run deques of ``(time, value)`` trimmed to a window."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.runs: dict[str, deque[tuple[float, float]]] = defaultdict(deque)

    def add(
        self, run_id: str, now: float, value: float = 1.0
    ) -> deque[tuple[float, float]]:
        items = self.runs[run_id]
        items.append((now, value))
        while items and items[0][0] <= now - self.window:
            items.popleft()
        return items


class CallRate:
    """Calls in the last ``window`` over ``factor`` times the run's earlier rate."""

    name = "call_rate"

    def __init__(
        self,
        factor: float,
        window: float,
        min_calls: int,
        baseline: float,
        *,
        kill: bool,
    ) -> None:
        self.factor, self.min_calls, self.baseline, self.kill = (
            factor,
            min_calls,
            baseline,
            kill,
        )
        self.windows = _Windows(window)
        self.started: dict[str, float] = {}
        self.total: dict[str, int] = defaultdict(int)

    def observe(self, event: Event, now: float) -> list[Finding]:
        if not isinstance(event, DecisionEvent):
            return []
        run = event.run_id
        start = self.started.setdefault(run, now)
        recent = len(self.windows.add(run, now))
        self.total[run] += 1
        window = self.windows.window
        before = self.total[run] - recent
        history = now - window - start
        if history < self.baseline or recent < self.min_calls:
            return []
        baseline = before / history * window  # calls per window, earlier
        if recent <= self.factor * max(baseline, 1.0):
            return []
        self.started[run] = now  # re-arm: one alert per spike, then a new baseline
        self.total[run] = 0
        msg = (
            f"{recent} calls in {window:g}s, {recent / max(baseline, 1.0):.1f}x the "
            f"run's earlier rate ({baseline:.1f} per {window:g}s)"
        )
        return [Finding(self.name, run, msg, self.kill)]


class NewName:
    """A tool (or egress host) the agent never used in an earlier run."""

    def __init__(self, name: str, seen: dict[str, set[str]], *, kill: bool) -> None:
        self.name, self.seen, self.kill = name, seen, kill
        self.agents: dict[str, str] = {}

    def observe(self, event: Event, now: float) -> list[Finding]:  # noqa: ARG002 -- same signature as the others
        if isinstance(event, RunStartedEvent):
            self.agents[event.run_id] = event.agent
            return []
        if self.name == "new_tool" and isinstance(event, DecisionEvent):
            value, agent = event.tool, event.agent
        elif self.name == "new_host" and isinstance(event, EgressEvent):
            value, agent = event.host, self.agents.get(event.run_id, "")
        else:
            return []
        known = self.seen.get(agent)
        if known is None:  # no earlier run: no baseline, learn silently
            self.seen[agent] = known = set()
            self.seen.setdefault(f"{agent}\x00first-run", set()).add(event.run_id)
        first_run = event.run_id in self.seen.get(f"{agent}\x00first-run", set())
        if value in known:
            return []
        known.add(value)
        if first_run:
            return []
        what = "tool" if self.name == "new_tool" else "egress host"
        msg = f"agent {agent!r} used {what} {value!r} for the first time"
        return [Finding(self.name, event.run_id, msg, self.kill)]


class CostBurn:
    """Cost per minute over the last ``window`` above ``max_per_minute``."""

    name = "cost_burn"

    def __init__(self, max_per_minute: float, window: float, *, kill: bool) -> None:
        self.max, self.kill = max_per_minute, kill
        self.windows = _Windows(window)

    def observe(self, event: Event, now: float) -> list[Finding]:
        if (isinstance(event, ResultEvent | UsageEvent) and event.cost > 0) or (
            isinstance(event, DecisionEvent)
            and event.disposition == "simulated"
            and event.cost > 0
        ):
            cost = event.cost
        else:
            return []
        items = self.windows.add(event.run_id, now, cost)
        per_minute = sum(v for _, v in items) * 60.0 / self.windows.window
        if per_minute <= self.max:
            return []
        items.clear()  # one alert per burst
        msg = f"spending {per_minute:.4g} per minute, over {self.max:g}"
        return [Finding(self.name, event.run_id, msg, self.kill)]


class Burst:
    """At least ``max`` matching events of one run within ``window``."""

    def __init__(self, name: str, count: int, window: float, *, kill: bool) -> None:
        self.name, self.count, self.kill = name, count, kill
        self.windows: dict[str, _Windows] = defaultdict(lambda: _Windows(window))

    def observe(self, event: Event, now: float) -> list[Finding]:
        if not isinstance(event, DecisionEvent):
            return []
        if self.name == "denials":
            if event.disposition != "blocked":
                return []
            key, what = "", "calls denied"
        else:
            key, what = (
                f"{event.tool}:{event.args_sha256}",
                f"identical calls to {event.tool!r}",
            )
        items = self.windows[key].add(event.run_id, now)
        if len(items) < self.count:
            return []
        items.clear()
        msg = f"{self.count} {what} within {self.windows[key].window:g}s"
        return [Finding(self.name, event.run_id, msg, self.kill)]


class ErrorStreak:
    """``max`` failed results in a row in one run."""

    name = "error_streak"

    def __init__(self, count: int, *, kill: bool) -> None:
        self.count, self.kill = count, kill
        self.streaks: dict[str, int] = defaultdict(int)

    def observe(self, event: Event, now: float) -> list[Finding]:  # noqa: ARG002 -- same signature as the others
        if not isinstance(event, ResultEvent):
            return []
        run = event.run_id
        if event.disposition == "executed":
            self.streaks[run] = 0
            return []
        self.streaks[run] += 1
        if self.streaks[run] < self.count:
            return []
        self.streaks[run] = 0
        msg = f"{self.count} failed calls in a row (last: {event.tool!r})"
        return [Finding(self.name, run, msg, self.kill)]


def build_detectors(
    spec: DetectorsSpec,
    seen_tools: dict[str, set[str]],
    seen_hosts: dict[str, set[str]],
) -> list[CallRate | NewName | CostBurn | Burst | ErrorStreak]:
    """The detectors ``spec`` turns on; ``seen_*`` map each agent to its history."""
    found: list[CallRate | NewName | CostBurn | Burst | ErrorStreak] = []
    if (c := spec.call_rate) is not None:
        found.append(CallRate(c.factor, c.window, c.min_calls, c.baseline, kill=c.kill))
    if spec.new_tool is not None:
        found.append(NewName("new_tool", seen_tools, kill=spec.new_tool.kill))
    if spec.new_host is not None:
        found.append(NewName("new_host", seen_hosts, kill=spec.new_host.kill))
    if (b := spec.cost_burn) is not None:
        found.append(CostBurn(b.max_per_minute, b.window, kill=b.kill))
    if (d := spec.denials) is not None:
        found.append(Burst("denials", d.max, d.window, kill=d.kill))
    if (r := spec.repeated_calls) is not None:
        found.append(Burst("repeated_calls", r.max, r.window, kill=r.kill))
    if (e := spec.error_streak) is not None:
        found.append(ErrorStreak(e.max, kill=e.kill))
    return found


def observe_all(
    detectors: Iterable[CallRate | NewName | CostBurn | Burst | ErrorStreak],
    event: Event,
    now: float,
) -> list[Finding]:
    """Every finding ``event`` causes."""
    return [f for d in detectors for f in d.observe(event, now)]
