"""Shared aliases, literals and the clock protocol; no logic lives here."""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypeAlias

__all__ = [
    "Clock",
    "Disposition",
    "Effect",
    "JSONObject",
    "JSONValue",
    "Mode",
    "OnExceed",
    "Outcome",
    "RunStatus",
]

JSONValue: TypeAlias = Any
"""Any value ``json.dumps`` accepts: dict, list, str, int, float, bool or None."""

JSONObject: TypeAlias = dict[str, Any]

Outcome = Literal["allow", "deny", "simulate", "approve", "kill"]
"""What the policy engine decided for one call."""

Effect = Literal["read", "write"]
"""Whether a tool only reads or also changes the world."""

Mode = Literal["live", "simulate", "approve", "deny"]
"""A tool's default handling when none of its rules match."""

OnExceed = Literal["deny", "kill"]
"""What happens to a call that goes over a rate limit."""

Disposition = Literal[
    "dispatched", "executed", "failed", "simulated", "pending", "blocked", "killed"
]
"""What became of a call: ``dispatched`` is logged before a live call runs, and its
``result`` event then says ``executed`` or ``failed``."""

RunStatus = Literal["running", "completed", "killed"]


class Clock(Protocol):
    """Time as the policy core sees it; tests pass a fake and advance it."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for windows and durations."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch, for timestamps and expiry."""
        ...
