"""Check for capabilities, and become root: setuid, setgid, setgroups, capset."""

import ctypes
import os
from pathlib import Path

from attack import Probe

probe = Probe()
status = dict(
    line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
)
caps = {
    k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
}
caps["NoNewPrivs"] = status["NoNewPrivs"].strip()
for name, value in caps.items():
    if name != "NoNewPrivs" and int(value, 16) != 0:
        probe.escape(name, value)
if caps["NoNewPrivs"] != "1":
    probe.escape("NoNewPrivs", caps["NoNewPrivs"])
probe.syscall_fails("setuid(0)", "setuid", 0)
probe.syscall_fails("setgid(0)", "setgid", 0)
groups = (ctypes.c_uint32 * 1)(0)
probe.syscall_fails("setgroups([0])", "setgroups", 1, groups)
header = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)(0xFFFFFFFF, 0xFFFFFFFF, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0)
probe.syscall_fails("capset(all)", "capset", header, data)
probe.note("ids", [os.getuid(), os.geteuid(), os.getgid(), os.getegid()])
probe.report(status=caps)
