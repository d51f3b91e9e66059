# ruff: noqa: S606 -- exec with a fixed argv, no shell, is the point
"""Daemonise (double fork, setsid, close stdio) to outlive the sandbox."""

import os
import sys

from attack import Probe, context

ctx = context()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.closerange(0, 3)
        # Re-exec with the marker in argv, so the driver can find a survivor.
        os.execv(
            "/usr/bin/python3",
            ["python3", "-c", "import time; time.sleep(3600)", ctx["marker"]],
        )
    os._exit(0)
os.wait()
probe = Probe()
probe.note("daemon", "started")
probe.report()
sys.exit(0)
