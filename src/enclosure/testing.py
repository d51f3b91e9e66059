"""Public test helpers: a fake clock, manifest text builders and an enclosure factory.

Nothing in ``src/`` imports this module; tests and users' own test suites do.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from enclosure._enclosure import Enclosure
from enclosure.audit import DecisionEvent, ValidatorResult
from enclosure.manifest import Manifest, load_manifest_text

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["FakeClock", "decision_event", "make_enclosure", "manifest_from"]


class FakeClock:
    """A clock that moves only when told to; satisfies ``enclosure.types.Clock``."""

    def __init__(
        self, monotonic: float = 1000.0, epoch: float = 1_790_000_000.0
    ) -> None:
        self._mono = monotonic
        self._epoch = epoch

    def monotonic(self) -> float:
        """Seconds on the fake monotonic clock."""
        return self._mono

    def time(self) -> float:
        """Seconds since the epoch on the fake wall clock."""
        return self._epoch

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        if seconds < 0:
            msg = "a clock does not go back"
            raise ValueError(msg)
        self._mono += seconds
        self._epoch += seconds


def manifest_from(yaml_text: str, file: str = "test.yaml") -> Manifest:
    """Parse manifest text (dedented), raising ``ManifestError`` as the loader does."""
    return load_manifest_text(textwrap.dedent(yaml_text), file)


def make_enclosure(
    yaml_text: str, home: Path, *, clock: FakeClock | None = None, **kwargs: Any
) -> Enclosure:
    """An ``Enclosure`` for manifest text, logging to a real SQLite file in ``home``."""
    return Enclosure(
        manifest_from(yaml_text), home=home, clock=clock or FakeClock(), **kwargs
    )


def decision_event(n: int, **overrides: Any) -> DecisionEvent:
    """A valid decision event for call ``n``; keywords replace any field."""
    fields: dict[str, Any] = {
        "run_id": "run-1",
        "ts": f"2025-01-02T03:04:{n // 1000000:02d}.{n % 1000000:06d}Z",
        "call_id": f"call-{n}",
        "tool": "send_email",
        "args": {"to": "a@example.com", "n": n},
        "args_sha256": "a" * 64,
        "context_sha256": "b" * 64,
        "context_excerpt": "",
        "agent": "mailer",
        "validator": ValidatorResult(ok=True),
        "outcome": "allow",
        "rule": "tools.send_email.rules[0]",
        "reason": "allowed",
        "disposition": "dispatched",
        "latency_us": 12,
        "cost": 0.25,
        "manifest_sha256": "c" * 64,
    }
    return DecisionEvent.model_validate(fields | overrides)
