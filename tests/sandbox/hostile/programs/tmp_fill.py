# ruff: noqa: S108 -- the sandbox's own /tmp is what it fills
"""Fill the private /tmp until the disk is full (its size cap must hold)."""

import os

from attack import Probe

probe = Probe()
written = 0
chunk = b"\x02" * (1 << 20)
try:
    with open("/tmp/fill", "wb") as out:  # noqa: PTH123 -- os-level write errors
        for _ in range(1 << 12):
            written += out.write(chunk)
            out.flush()
except OSError as exc:
    probe.note("stopped by", exc.strerror)
else:
    probe.escape("never refused", written)
probe.report(written=written, statvfs=list(os.statvfs("/tmp")))
