"""The red team: bundled hostile scenarios replayed against a manifest.

Wiring: it builds a throw-away ``Enclosure`` and drives it with a scripted
compromised agent. Must not know: the CLI, or how any real tool runs (handlers
are dropped; every call is proposed, never executed).
"""

from enclosure.redteam._redteam import SCENARIOS, Finding, run_redteam

__all__ = ["SCENARIOS", "Finding", "run_redteam"]
