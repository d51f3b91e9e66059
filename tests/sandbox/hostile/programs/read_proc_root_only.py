"""Read the root-only files in /proc: kernel memory, log, heap and symbol addresses."""

import os
from pathlib import Path

from attack import Probe

probe = Probe()
for path in (
    "/proc/kcore",
    "/proc/kmsg",
    "/proc/slabinfo",
    "/proc/vmallocinfo",
    "/proc/pagetypeinfo",
    "/proc/sys/kernel/cad_pid",
    "/proc/sys/fs/binfmt_misc/status",
):
    probe.must_fail(
        path, lambda p=path: os.read(os.open(p, os.O_RDONLY | os.O_NONBLOCK), 256)
    )
try:
    symbols = Path("/proc/kallsyms").read_text().splitlines()[:5]
except OSError:
    symbols = []  # hidden or unreadable: nothing to leak
if any(int(line.split()[0], 16) for line in symbols):
    probe.escape("/proc/kallsyms addresses", symbols)
pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
entry = int.from_bytes(os.pread(pagemap, 8, (id(probe) // 4096) * 8), "little")
if entry & ((1 << 55) - 1):
    probe.escape("physical frame numbers in pagemap", hex(entry))
probe.report()
