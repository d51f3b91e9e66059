"""Read pid 1's environment, command line, root and working directory."""

from pathlib import Path

from attack import Probe

probe = Probe()
# Inside, pid 1 is the sandbox's own init: reading it is allowed. What it holds
# is printed so the driver can check that no host value is in it.
for name in ("environ", "cmdline"):
    try:
        probe.note(f"/proc/1/{name}", Path(f"/proc/1/{name}").read_bytes().decode())
    except OSError as exc:
        probe.note(f"/proc/1/{name}", exc.strerror)
for name in ("root", "cwd"):
    try:
        probe.note(
            f"/proc/1/{name}", sorted(p.name for p in Path(f"/proc/1/{name}").iterdir())
        )
    except OSError as exc:
        probe.note(f"/proc/1/{name}", exc.strerror)
probe.report()
