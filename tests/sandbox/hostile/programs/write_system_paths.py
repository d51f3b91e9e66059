# ruff: noqa: S108 -- /dev/shm is the sandbox's own
"""Create and change files in the system folders: /, /usr, /etc, /var, /run."""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
marker = ctx["marker"]
for folder in ("/", "/usr", "/usr/bin", "/etc", "/var", "/run", "/bin"):
    path = Path(folder) / marker
    probe.must_fail(f"create {path}", lambda p=path: p.write_text(marker))
# Harmless even if they got through: opened for writing but not written, or
# given the mode and times they already have.
for path in ("/etc/passwd", "/etc/hosts", "/usr/bin/python3", "/etc/ld.so.preload"):
    probe.must_fail(f"open {path} for writing", lambda p=path: os.open(p, os.O_WRONLY))
mode = Path("/usr/bin").stat().st_mode & 0o7777
probe.must_fail("chmod /usr/bin", lambda: Path("/usr/bin").chmod(mode))
times = Path("/usr/bin/env").stat()
probe.must_fail(
    "utime /usr/bin/env",
    lambda: os.utime("/usr/bin/env", ns=(times.st_atime_ns, times.st_mtime_ns)),
)
# /dev is the sandbox's own; the driver checks the host's /dev/shm stays clean.
try:
    (Path("/dev/shm") / marker).write_text(marker)
    probe.note("/dev/shm", "written (the sandbox's own /dev)")
except OSError as exc:
    probe.note("/dev/shm", exc.strerror)
probe.report()
