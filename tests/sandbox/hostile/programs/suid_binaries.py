# ruff: noqa: S108 -- the sandbox's own /tmp
"""Gain root through set-uid programs in /usr (mount, passwd, su, newgrp)."""

import subprocess
from pathlib import Path

from attack import Probe

probe = Probe()
usr = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]
usr_options = next((f[5] for f in usr if f[4] == "/usr"), "")
probe.note("/usr mount options", usr_options)
attempts = {
    "mount": ["/usr/bin/mount", "-t", "tmpfs", "none", "/tmp"],
    "umount": ["/usr/bin/umount", "/usr"],
    "newgrp": ["/usr/bin/newgrp", "root"],
    "su": ["/usr/bin/su", "-c", "id -u"],
}
for name, argv in attempts.items():
    if not Path(argv[0]).exists():
        probe.note(name, "absent")
        continue
    done = subprocess.run(
        argv, capture_output=True, check=False, timeout=2, stdin=subprocess.DEVNULL
    )
    if done.returncode == 0 and name != "su":
        probe.escape(name, done.stdout.decode()[:200])
    elif name == "su" and done.stdout.strip() == b"0":
        probe.escape(name, "became root")
    else:
        probe.note(name, (done.stderr or done.stdout).decode().strip()[:200])
probe.report()
