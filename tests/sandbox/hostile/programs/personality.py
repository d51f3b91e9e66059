"""Turn off address-space randomisation (and friends) with personality(2).

Besides the plain flags, it tries each flag with bit 31 set: the kernel stores
any value but 0xffffffff (the query) as the new persona, flags included.
"""

import subprocess

from attack import Probe, syscall

probe = Probe()
ADDR_NO_RANDOMIZE = 0x0040000
current, _ = syscall("personality", 0xFFFFFFFF)
probe.note("persona", current)
for name, flag in {
    "ADDR_NO_RANDOMIZE": ADDR_NO_RANDOMIZE,
    "READ_IMPLIES_EXEC": 0x0400000,
    "ADDR_COMPAT_LAYOUT": 0x0200000,
    "MMAP_PAGE_ZERO": 0x0100000,
}.items():
    for high in (0, 0x80000000):
        label = f"{name} | {high:#x}"
        if probe.syscall_fails(label, "personality", flag | high) != -1:
            syscall("personality", current)


def stacks() -> list[str]:
    """Where two fresh processes put their stacks (equal when ASLR is off)."""
    found = []
    for _ in range(2):
        maps = subprocess.run(
            ["/usr/bin/cat", "/proc/self/maps"], capture_output=True, check=True
        ).stdout.decode()
        found += [line.split()[0] for line in maps.splitlines() if "[stack]" in line]
    return found


result, _ = syscall("personality", 0x80000000 | ADDR_NO_RANDOMIZE)
if result != -1:
    seen = stacks()
    syscall("personality", current)
    if len(set(seen)) == 1:
        probe.escape("ASLR off in children", seen)
done = subprocess.run(
    ["/usr/bin/setarch", "x86_64", "-R", "/usr/bin/cat", "/proc/self/personality"],
    capture_output=True,
    check=False,
)
if done.returncode == 0 and int(done.stdout or b"0", 16) & ADDR_NO_RANDOMIZE:
    probe.escape("setarch -R", done.stdout.decode().strip())
else:
    probe.note("setarch -R", (done.stdout + done.stderr).decode().strip()[:200])
probe.report()
