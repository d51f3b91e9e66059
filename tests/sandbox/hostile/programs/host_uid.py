"""Are we root on the host? Ask the kernel, and leave a file for the driver to see.

The uid maps cannot answer (bubblewrap nests user namespaces, so "outside" is
relative to an intermediate one), but the kernel's permission check on a global
sysctl can: only the host's root may write /proc/sys/kernel/core_pattern.
"""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
maps = {k: Path(f"/proc/self/{k}").read_text().split() for k in ("uid_map", "gid_map")}
if os.access("/proc/sys/kernel/core_pattern", os.W_OK):
    probe.escape("core_pattern writable", "the kernel takes us for host root")
(Path(ctx["quarantine"]) / "owner-probe").write_text(ctx["marker"])
probe.report(maps=maps)
