"""Open raw devices: physical memory, ports, disks, the console, kvm, tun."""

import os
from pathlib import Path

from attack import Probe

probe = Probe()
for path in (
    "/dev/mem",
    "/dev/kmem",
    "/dev/port",
    "/dev/vda",
    "/dev/sda",
    "/dev/nvme0n1",
    "/dev/console",
    "/dev/tty1",
    "/dev/kvm",
    "/dev/fuse",
    "/dev/net/tun",
    "/dev/cpu/0/msr",
):
    probe.must_fail(path, lambda p=path: os.open(p, os.O_RDWR))
listing = sorted(p.name for p in Path("/dev").iterdir())
allowed = {"console", "core", "fd", "full", "null", "ptmx", "pts", "random", "shm"}
allowed |= {"stderr", "stdin", "stdout", "tty", "urandom", "zero"}
if set(listing) - allowed:
    probe.escape("unexpected device nodes", sorted(set(listing) - allowed))
probe.report(dev=listing)
