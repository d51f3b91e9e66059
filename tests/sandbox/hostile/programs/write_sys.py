"""Reach /sys: cgroup limits and a network knob; mount sysfs if it is missing.

The values written are the ones a fresh host already has, so an escape changes
nothing the driver did not expect.
"""

from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
probe.note("/sys exists", Path("/sys").exists())
for path, value in {
    "/sys/fs/cgroup/pids/enclosure/pids.max": "max",
    "/sys/fs/cgroup/memory/enclosure/memory.limit_in_bytes": "-1",
    "/sys/fs/cgroup/pids/cgroup.procs": "1",
    "/sys/class/net/lo/mtu": "65536",
}.items():
    probe.must_fail(path, lambda p=path, v=value: Path(p).write_text(v))
probe.syscall_fails("mount sysfs", "mount", b"sysfs", b"/tmp", b"sysfs", 0, None)
probe.syscall_fails("mount cgroup", "mount", b"cgroup", b"/tmp", b"cgroup", 0, b"pids")
probe.report()
