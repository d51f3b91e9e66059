"""Set up an io_uring, whose operations bypass the per-syscall filter."""

import ctypes

from attack import Probe

probe = Probe()
params = (ctypes.c_uint32 * 30)()
probe.syscall_fails("io_uring_setup", "io_uring_setup", 8, params)
probe.report()
