"""Attach to the host's SysV shared memory by key, and leave a segment behind."""

from attack import Probe, context, syscall

ctx = context()
probe = Probe()
IPC_CREAT = 0o1000
probe.syscall_fails("shmget host key", "shmget", ctx["shm_key"], 0, 0)
probe.syscall_fails("msgget host key", "msgget", ctx["shm_key"], 0)
# Our own segment is allowed inside; the driver checks the host never sees it.
own, err = syscall("shmget", ctx["shm_key"] + 1, 4096, IPC_CREAT | 0o666)
probe.note("own segment", err or own)
probe.report()
