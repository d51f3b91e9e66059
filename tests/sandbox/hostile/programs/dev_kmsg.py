"""Write into the host's kernel log, and read it back."""

import os

from attack import Probe, context

ctx = context()
probe = Probe()
message = f"<0>{ctx['marker']} hostile kernel message\n".encode()
probe.must_fail(
    "write /dev/kmsg", lambda: os.write(os.open("/dev/kmsg", os.O_WRONLY), message)
)
probe.must_fail(
    "read /dev/kmsg", lambda: os.read(os.open("/dev/kmsg", os.O_RDONLY), 4096)
)
SYSLOG_ACTION_READ_ALL = 3
buf = bytes(4096)
probe.syscall_fails("syslog(READ_ALL)", "syslog", SYSLOG_ACTION_READ_ALL, buf, len(buf))
probe.report()
