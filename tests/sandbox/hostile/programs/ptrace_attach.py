"""Attach a debugger: to pid 1, to the parent, to a host pid, and by PTRACE_TRACEME."""

import os

from attack import Probe, context, syscall

ctx = context()
probe = Probe()
PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SEIZE = 0, 16, 17, 0x4206
for label, pid in (
    ("pid 1", 1),
    ("parent", os.getppid()),
    ("host pid", ctx["holder_pid"]),
):
    for request in (PTRACE_ATTACH, PTRACE_SEIZE):
        if probe.syscall_fails(f"{label} {request}", "ptrace", request, pid, 0, 0) == 0:
            syscall("ptrace", PTRACE_DETACH, pid, 0, 0)
child = os.fork()
if child == 0:
    result, _ = syscall("ptrace", PTRACE_TRACEME, 0, 0, 0)
    os._exit(0 if result == -1 else 1)
_, status = os.waitpid(child, 0)
if os.waitstatus_to_exitcode(status) != 0:
    probe.escape("PTRACE_TRACEME", "the child became traceable")
probe.report()
