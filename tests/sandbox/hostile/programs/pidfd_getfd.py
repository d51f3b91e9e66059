"""Steal another process's file descriptors: pidfd_getfd, kcmp, /proc/<pid>/fd."""

import os
from pathlib import Path

from attack import Probe, context, syscall

ctx = context()
probe = Probe()
pidfd, err = syscall("pidfd_open", 1, 0)
probe.note("pidfd_open(1)", err or "allowed (pid 1 is the sandbox's own init)")
if pidfd >= 0:
    for fd in range(3):
        probe.syscall_fails(f"pidfd_getfd(1, {fd})", "pidfd_getfd", pidfd, fd, 0)
KCMP_FILE = 0
probe.syscall_fails("kcmp", "kcmp", os.getpid(), 1, KCMP_FILE, 0, 0)
# The sandbox's own init may be inspected; it must hold nothing from outside.
init_fds = {p.name: str(p.readlink()) for p in Path("/proc/1/fd").iterdir()}
probe.note("init's descriptors", init_fds)
outside = [t for t in init_fds.values() if t.startswith("/") and t != "/dev/null"]
if outside:
    probe.escape("init holds host files", outside)
init = Path("/proc/1/status").read_text()
if "Seccomp:\t2" not in init or "CapEff:\t0000000000000000" not in init:
    probe.escape("init is not confined like us", init)
probe.syscall_fails("pidfd_open(host pid)", "pidfd_open", ctx["holder_pid"], 0)
probe.report()
