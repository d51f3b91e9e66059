# ruff: noqa: S108 -- the sandbox's own /tmp mount
"""Unmount what hides the host: the files over /etc, /usr, /proc, /tmp."""

from attack import Probe

probe = Probe()
MNT_FORCE, MNT_DETACH = 1, 2
for path in ("/etc/passwd", "/etc/hosts", "/usr", "/proc", "/tmp", "/", "/input"):
    for flags in (0, MNT_DETACH | MNT_FORCE):
        probe.syscall_fails(f"umount2 {path} {flags}", "umount2", path.encode(), flags)
probe.report()
