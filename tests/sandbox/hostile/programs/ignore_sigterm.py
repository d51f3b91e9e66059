# ruff: noqa: S606 -- exec with a fixed argv, no shell, is the point
"""Children that ignore every catchable signal and keep the output pipe open."""

import os
import signal

from attack import Probe, context

ctx = context()
for _ in range(3):
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        os.execv(
            "/usr/bin/python3",
            [
                "python3",
                "-c",
                (
                    "import signal\n"
                    "for s in (1, 2, 13, 15): signal.signal(s, signal.SIG_IGN)\n"
                    "while True: signal.pause()"
                ),
                ctx["marker"],
            ],
        )
probe = Probe()
probe.note("children", "started")
probe.report()
