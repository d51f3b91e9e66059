"""Write through symlinks planted in the writable mount that point at host paths."""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
out = Path(ctx["quarantine"])
targets = {
    "sentinel": ctx["sentinel"],
    "via-proc": f"/proc/1/root{ctx['sentinel']}",
    "etc": f"/etc/{ctx['marker']}",
    "passwd": "/etc/passwd",
}
for name, target in targets.items():
    link = out / name
    link.symlink_to(target)
    if name == "passwd":  # opened for writing only: never damage the host's file
        probe.must_fail(
            "open via passwd", lambda target=link: os.open(target, os.O_WRONLY)
        )
    else:
        probe.must_fail(
            f"write via {name}",
            lambda target=link: target.open("a").write(ctx["marker"]),
        )
(out / "root").symlink_to("/")
probe.must_fail(
    "write via dir link", lambda: (out / "root" / "etc" / ctx["marker"]).write_text("x")
)
(out / "up").symlink_to("../../../../../../" + ctx["world"].lstrip("/"))
probe.must_fail("list via ../ link", lambda: list((out / "up").iterdir()))
probe.report()
