"""List and read root's home: a planted secret, history, SSH files."""

from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
probe.must_fail("list /root", lambda: sorted(p.name for p in Path("/root").iterdir()))
for path in (
    ctx["root_secret"],
    "/root/.bash_history",
    "/root/.ssh/authorized_keys",
    "/root/.profile",
    "/proc/1/root" + ctx["root_secret"],
):
    probe.must_fail(path, Path(path).read_text)
probe.report()
