# ruff: noqa: S108 -- /var/tmp is where the bait is on the host
"""Read a world-readable secret in a world-readable host folder (/var/tmp)."""

from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
probe.must_fail(ctx["secret_file"], Path(ctx["secret_file"]).read_text)
probe.must_fail("list world folder", lambda: list(Path(ctx["world"]).iterdir()))
var_tmp = sorted(p.name for p in Path("/var/tmp").iterdir())
probe.note("/var/tmp", var_tmp)
if var_tmp:
    probe.escape("/var/tmp is not empty", var_tmp)
probe.report()
