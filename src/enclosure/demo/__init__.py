"""The offline demo: a runaway agent stopped after 3 emails, an injected refund held.

The refund is parked for a human, and the decision log is verified at the end.

Must not be imported by the library; the CLI's ``demo`` command runs it.
"""

from enclosure.demo._demo import DemoOutcome, run_demo
from enclosure.demo._smtp import SmtpSink

__all__ = ["DemoOutcome", "SmtpSink", "run_demo"]
