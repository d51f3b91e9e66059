"""Hard-link read-only or host files into the writable mount, to change or take them."""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
out = Path(ctx["quarantine"])
for index, source in enumerate(
    (f"{ctx['input']}/sentinel.txt", "/etc/passwd", "/usr/bin/python3", ctx["sentinel"])
):
    probe.must_fail(
        f"link {source}", lambda s=source, i=index: os.link(s, out / f"l{i}")
    )
probe.report()
