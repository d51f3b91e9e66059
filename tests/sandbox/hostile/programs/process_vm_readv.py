"""Read other processes' memory: process_vm_readv and /proc/<pid>/mem."""

import ctypes
import os

from attack import Probe, context

ctx = context()
probe = Probe()


class IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


buf = ctypes.create_string_buffer(4096)
local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 4096)
for label, pid in (
    ("pid 1", 1),
    ("parent", os.getppid()),
    ("host pid", ctx["holder_pid"]),
):
    # The remote address is the start of the main executable's mapping, if seen.
    remote = IoVec(0x400000, 4096)
    probe.syscall_fails(
        f"process_vm_readv {label}",
        "process_vm_readv",
        pid,
        ctypes.byref(local),
        1,
        ctypes.byref(remote),
        1,
        0,
    )
    if label == "host pid":
        probe.must_fail(
            "/proc/<host pid>/mem", lambda p=pid: os.open(f"/proc/{p}/mem", os.O_RDWR)
        )
    else:  # the sandbox's own processes, under the same filter: allowed
        try:
            os.close(os.open(f"/proc/{pid}/mem", os.O_RDWR))
            probe.note(f"/proc/<{label}>/mem", "opened (a process inside the sandbox)")
        except OSError as exc:
            probe.note(f"/proc/<{label}>/mem", exc.strerror)
probe.report()
