"""Other privileged calls: clock, accounting, swap, port I/O, fanotify, quotas."""

import ctypes
import time

from attack import Probe

probe = Probe()
now = (ctypes.c_long * 2)(int(time.time()), 0)
probe.syscall_fails("settimeofday", "settimeofday", now, None)
probe.syscall_fails("clock_settime", "clock_settime", 0, now)
probe.syscall_fails("acct", "acct", b"/tmp/acct")
probe.syscall_fails("swapon", "swapon", b"/tmp/swap", 0)
probe.syscall_fails("iopl(3)", "iopl", 3)
probe.syscall_fails("ioperm", "ioperm", 0x60, 1, 1)
probe.syscall_fails("fanotify_init", "fanotify_init", 0, 0)
Q_SYNC = 0x800001
probe.syscall_fails("quotactl", "quotactl", Q_SYNC, b"/tmp", 0, None)
probe.syscall_fails("vhangup", "vhangup")
probe.syscall_fails("lookup_dcookie", "lookup_dcookie", 0, None, 0)
probe.report()
