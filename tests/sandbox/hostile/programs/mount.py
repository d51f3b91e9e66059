"""Mount filesystems: tmpfs, proc, a bind of /, a read-write remount of /usr."""

from attack import Probe, syscall

probe = Probe()
MS_BIND, MS_REMOUNT, MS_REC = 0x1000, 0x20, 0x4000
for label, args in {
    "tmpfs on /tmp": (b"none", b"/tmp", b"tmpfs", 0, None),
    "proc on /tmp": (b"proc", b"/tmp", b"proc", 0, None),
    "bind / on /tmp": (b"/", b"/tmp", None, MS_BIND | MS_REC, None),
    "remount /usr rw": (None, b"/usr", None, MS_REMOUNT | MS_BIND, None),
    "remount / rw": (None, b"/", None, MS_REMOUNT, None),
}.items():
    probe.syscall_fails(label, "mount", *args)
fd, err = syscall("fsopen", b"tmpfs", 0)
if fd >= 0:
    probe.escape("fsopen", fd)
else:
    probe.note("fsopen", err)
OPEN_TREE_CLONE = 1
probe.syscall_fails("open_tree", "open_tree", -100, b"/", OPEN_TREE_CLONE)
probe.report()
