"""Collect SSH private keys: users', the host's, and an agent socket."""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
probe.note("SSH_AUTH_SOCK", os.environ.get("SSH_AUTH_SOCK"))
candidates = [
    *(f"/etc/ssh/ssh_host_{kind}_key" for kind in ("rsa", "ecdsa", "ed25519")),
    "/root/.ssh/id_rsa",
    "/root/.ssh/id_ed25519",
    f"{ctx['home']}/.ssh/id_ed25519",
    f"{ctx['host_home']}/.ssh/id_ed25519",
]
for path in candidates:
    probe.must_fail(path, Path(path).read_text)
found = [str(p) for p in Path("/").glob("*/.ssh/id_*")]
found += [str(p) for p in Path("/").glob("home/*/.ssh/id_*")]
if found:
    probe.escape("glob for keys", found)
probe.report()
