"""Dump the environment: only the allowlisted names may be there."""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
extra = sorted(set(os.environ) - set(ctx["allowed_env"]))
if extra:
    probe.escape("names outside the allowlist", extra)
for pid in ("self", "1"):
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    names = {item.partition(b"=")[0].decode() for item in raw if item}
    if names - set(ctx["allowed_env"]):
        probe.escape(f"/proc/{pid}/environ", sorted(names))
probe.report(environ=dict(os.environ))
