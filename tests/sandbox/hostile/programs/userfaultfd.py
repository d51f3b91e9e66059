"""Get a userfaultfd (the usual way to win kernel races), by syscall and by device."""

import os

from attack import Probe

probe = Probe()
O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY = 0o2000000, 0o4000, 1
for flags in (O_CLOEXEC | O_NONBLOCK, UFFD_USER_MODE_ONLY):
    probe.syscall_fails(f"userfaultfd {flags}", "userfaultfd", flags)
probe.must_fail("/dev/userfaultfd", lambda: os.open("/dev/userfaultfd", os.O_RDWR))
probe.report()
