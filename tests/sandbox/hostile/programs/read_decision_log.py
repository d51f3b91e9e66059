# ruff: noqa: S108 -- folders searched inside the sandbox
"""Find and read the decision log (enclosure.db) to learn or forge decisions."""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
for path in (
    ctx["decision_log"],
    ctx["workspace_log"],
    "/root/.enclosure/enclosure.db",
):
    probe.must_fail(path, Path(path).read_bytes)
    # Opened for appending but never written: a real log must stay intact.
    probe.must_fail(
        f"open {path} for appending",
        lambda p=path: os.open(p, os.O_WRONLY | os.O_APPEND),
    )
found = []
for top in ("/", "/tmp", "/run", "/var", "/etc", "/input", "/quarantine", "/work"):
    for dirpath, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("proc", "usr", "sys", "dev")]
        found += [f"{dirpath}/{f}" for f in files if f.endswith(".db")]
if found:
    probe.escape("search for *.db", found)
probe.report()
