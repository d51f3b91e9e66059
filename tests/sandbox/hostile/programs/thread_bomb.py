"""A thread bomb: threads count against the process cap too."""

import threading

from attack import Probe

probe = Probe()
stop = threading.Event()
made = 0
try:
    for _ in range(100_000):
        threading.Thread(target=stop.wait, daemon=True).start()
        made += 1
except RuntimeError as exc:
    probe.note("thread refused", f"{exc} after {made} threads")
probe.report(threads=made)
