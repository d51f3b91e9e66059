"""Read the host's password hashes, directly and through /proc/1/root."""

from pathlib import Path

from attack import Probe

probe = Probe()
for path in (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/sudoers",
    "/proc/1/root/etc/shadow",
    "/proc/self/root/etc/shadow",
    "/usr/../etc/shadow",
):
    probe.must_fail(path, Path(path).read_text)
probe.report()
