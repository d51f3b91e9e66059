# ruff: noqa: S108 -- the sandbox's own /tmp
"""Make device nodes (/dev/mem's numbers, a disk) in /tmp and the writable mount."""

import os
import stat

from attack import Probe, context

ctx = context()
probe = Probe()
for folder in ("/tmp", ctx["quarantine"]):
    for name, kind, major, minor in (
        ("mem", stat.S_IFCHR, 1, 1),
        ("disk", stat.S_IFBLK, 253, 0),
    ):
        path = f"{folder}/{name}"
        probe.must_fail(
            path,
            lambda p=path, k=kind, a=major, b=minor: os.mknod(
                p, k | 0o666, os.makedev(a, b)
            ),
        )
probe.report()
