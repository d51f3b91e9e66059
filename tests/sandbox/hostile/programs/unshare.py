"""Unshare every kind of namespace, one by one and all at once."""

import subprocess

from attack import Probe

probe = Probe()
FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
    "CLONE_FS": 0x00000200,
    "CLONE_FILES": 0x00000400,
}
for name, flag in FLAGS.items():
    if name in ("CLONE_FS", "CLONE_FILES"):
        continue  # harmless, and refused with the rest by the filter
    probe.syscall_fails(name, "unshare", flag)
everything = sum(v for k, v in FLAGS.items() if k.startswith("CLONE_NEW"))
probe.syscall_fails("all namespaces", "unshare", everything)
for argv in (["/usr/bin/unshare", "-r", "true"], ["/usr/bin/unshare", "-Urn", "true"]):
    done = subprocess.run(argv, capture_output=True, check=False)
    if done.returncode == 0:
        probe.escape(" ".join(argv), "succeeded")
    else:
        probe.note(" ".join(argv), done.stderr.decode().strip()[:200])
probe.report()
