"""Learn the host's name, and rename the machine."""

import os
import socket
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
name = ctx["marker"][:60].encode()
probe.syscall_fails("sethostname", "sethostname", name, len(name))
probe.syscall_fails("setdomainname", "setdomainname", name, len(name))
# The sandbox has its own UTS namespace: renaming it is allowed, and the driver
# checks that the host's name did not change.
try:
    Path("/proc/sys/kernel/hostname").write_text(ctx["marker"][:60])
    probe.note("write /proc/sys/kernel/hostname", "written (own namespace)")
except OSError as exc:
    probe.note("write /proc/sys/kernel/hostname", exc.strerror)
probe.report(
    hostname=socket.gethostname(),
    uname=os.uname().nodename,
    proc=Path("/proc/sys/kernel/hostname").read_text().strip(),
)
