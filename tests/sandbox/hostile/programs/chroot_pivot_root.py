# ruff: noqa: S108 -- the jail is in the sandbox's own /tmp
"""Change the root: chroot, pivot_root, and the classic chroot-chdir-.. break-out."""

import os
from pathlib import Path

from attack import Probe

probe = Probe()
jail = Path("/tmp/jail")
(jail / "old").mkdir(parents=True, exist_ok=True)
probe.syscall_fails("chroot /tmp/jail", "chroot", bytes(jail))
probe.syscall_fails("pivot_root", "pivot_root", b"/tmp", bytes(jail / "old"))
probe.syscall_fails("chroot /proc/1/root", "chroot", b"/proc/1/root")
os.fchdir(os.open("/", os.O_RDONLY))
for _ in range(64):
    os.chdir("..")
probe.note("cwd after 64 x ..", str(Path.cwd()))
root = sorted(p.name for p in Path("/").iterdir())
if Path("/root").exists() or Path("/home").exists():
    probe.escape("host root visible", root)
probe.report(root=root)
