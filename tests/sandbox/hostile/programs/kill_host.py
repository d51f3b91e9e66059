"""Kill everything we can see and more: kill(-1), host pids, the test runner."""

import os
import signal
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
visible = [
    arg
    for p in Path("/proc").iterdir()
    if p.name.isdigit() and (p / "cmdline").exists()
    for arg in (p / "cmdline").read_bytes().decode(errors="replace").split("\0")
]
isolated = ctx["holder_marker"] not in visible
if not isolated:
    probe.escape("host processes visible", "refusing to send kill(-1, SIGKILL)")
child = os.fork()
if child == 0:
    signal.pause()
    os._exit(0)
# kill(-1) signals every process we may signal: it must stop at the sandbox.
# (SIGKILL only when the host is out of sight; SIGCONT harms nobody otherwise.)
os.kill(-1, signal.SIGKILL if isolated else signal.SIGCONT)
if not isolated:
    os.kill(child, signal.SIGKILL)
_, status = os.waitpid(child, 0)
probe.note("own child after kill(-1)", os.waitstatus_to_exitcode(status))
probe.must_fail("kill holder", lambda: os.kill(ctx["holder_pid"], signal.SIGKILL))
probe.must_fail(
    "kill group holder", lambda: os.killpg(ctx["holder_pid"], signal.SIGKILL)
)
probe.must_fail("signal test runner", lambda: os.kill(ctx["test_pid"], signal.SIGCONT))
# Pid 1 is the sandbox's own init, which ignores signals from inside: allowed.
os.kill(1, signal.SIGKILL)
probe.note("pid 1 alive after SIGKILL", Path("/proc/1").exists())
probe.report()
