"""Open perf events: system-wide on CPU 0, on pid 1, and on ourselves."""

import ctypes

from attack import Probe

probe = Probe()
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK = 1, 0
PERF_TYPE_TRACEPOINT = 2
for label, kind, pid, cpu in (
    ("system-wide cpu 0", PERF_TYPE_SOFTWARE, -1, 0),
    ("pid 1", PERF_TYPE_SOFTWARE, 1, -1),
    ("self", PERF_TYPE_SOFTWARE, 0, -1),
    ("tracepoint", PERF_TYPE_TRACEPOINT, 0, -1),
):
    attr = (ctypes.c_uint32 * 32)()
    attr[0] = kind
    attr[1] = 128  # size
    attr[2] = PERF_COUNT_SW_CPU_CLOCK
    probe.syscall_fails(label, "perf_event_open", attr, pid, cpu, -1, 0)
probe.report()
