"""Overwrite the runtime's binary through /proc/<init>/exe, as in CVE-2019-5736."""

import os
from pathlib import Path

from attack import Probe

probe = Probe()
for path in ("/proc/1/exe", "/proc/self/exe", "/proc/1/root/proc/1/exe"):
    probe.must_fail(f"open {path} for writing", lambda p=path: os.open(p, os.O_WRONLY))
    # Where the runtime lives on the host is no secret; the driver checks its hash.
    try:
        probe.note(f"readlink {path}", str(Path(path).readlink()))
    except OSError as exc:
        probe.note(f"readlink {path}", exc.strerror)
probe.report()
