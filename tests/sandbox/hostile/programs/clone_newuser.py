"""Create namespaces with raw clone(2) and clone3(2), past any unshare(2) rule."""

import ctypes
import os

from attack import Probe, syscall

probe = Probe()
SIGCHLD = 17
for name, flag in {
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWPID": 0x20000000,
}.items():
    pid, err = syscall("clone", flag | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)  # the child of a clone that should never have happened
    if pid > 0:
        os.waitpid(pid, 0)
        probe.escape(f"clone {name}", pid)
    else:
        probe.note(f"clone {name}", err)


class CloneArgs(ctypes.Structure):
    _fields_ = tuple((n, ctypes.c_uint64) for n in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
        "stack_size", "tls", "set_tid", "set_tid_size", "cgroup",
    ))  # fmt: skip


args = CloneArgs(flags=0x10000000, exit_signal=SIGCHLD)
pid, err = syscall("clone3", ctypes.byref(args), ctypes.sizeof(args))
if pid == 0:
    os._exit(0)
if pid > 0:
    os.waitpid(pid, 0)
    probe.escape("clone3 CLONE_NEWUSER", pid)
else:
    probe.note("clone3 CLONE_NEWUSER", err)
probe.report()
