"""What the policy engine remembers about one run between calls.

A plain mutable record owned by the run and handed to the engine on each call; the
engine is the only writer. It holds counters, rate windows and the recent-call log
for the repeated-call kill switch.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from enclosure.policy._ratelimit import SlidingWindows
from enclosure.policy._taint import Taint

__all__ = ["RunState"]


@dataclass(eq=False)
class RunState:
    """Counters and windows of one run; ``started`` is caller's monotonic time."""

    run_id: str
    agent: str
    task: str
    started: float
    model: str | None = None
    calls: int = 0
    """Every call proposed, whatever became of it."""
    executed: int = 0
    simulated: int = 0
    pending: int = 0
    denials: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    cost: float = 0.0
    tool_calls: dict[str, int] = field(default_factory=dict)
    windows: SlidingWindows = field(default_factory=SlidingWindows)
    recent: deque[tuple[float, str]] = field(default_factory=deque)
    """(time, signature) of recent calls, for the repeated-call limit."""
    recent_counts: dict[str, int] = field(default_factory=dict)
    """How often each signature occurs in ``recent``: counting is O(1)."""
    killed: str | None = None
    """Why the run was killed, once it has been."""
    taint: Taint = field(default_factory=Taint)
    """What untrusted tools returned in this run (see ``Policy.remember``)."""
    limits: dict[str, int] = field(default_factory=dict)
    """Rate limits raised for this run only (an escalation), by rate path
    (``tools.send_email.rate[0]``): the number of calls its window allows."""
    unlocked: dict[str, str] = field(default_factory=dict)
    """Tools the manifest switches off (``mode: deny``) that an escalation lets
    this run use, each with the rule that names the escalation: their calls are
    decided like any other (rules, rate limits, the kill switch), the escalation
    standing in for the mode."""

    def snapshot(
        self, now: float, *, fields: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """The ``run`` variable CEL conditions see.

        ``fields`` keeps only the named entries: converting a value for CEL is
        what costs, so conditions get only what they read (None: everything).
        """
        if fields is not None:
            return {k: v for k, v in self._values(now, fields).items() if k in fields}
        return self._values(now, None)

    def _values(self, now: float, fields: frozenset[str] | None) -> dict[str, Any]:
        wants_tools = fields is None or "tool_calls" in fields
        return {
            "id": self.run_id,
            "agent": self.agent,
            "task": self.task,
            "model": self.model or "",
            "calls": self.calls,
            "executed": self.executed,
            "simulated": self.simulated,
            "pending": self.pending,
            "denials": self.denials,
            "errors": self.errors,
            "consecutive_errors": self.consecutive_errors,
            "cost": self.cost,
            "elapsed_s": now - self.started,
            "tool_calls": dict(self.tool_calls) if wants_tools else {},
        }
