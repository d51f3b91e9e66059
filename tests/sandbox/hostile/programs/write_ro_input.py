"""Change the read-only input mount: edit, truncate, delete, rename, chmod."""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
folder = Path(ctx["input"])
sentinel = folder / "sentinel.txt"
probe.must_fail("append", lambda: sentinel.open("a").write(ctx["marker"]))
probe.must_fail("truncate", lambda: os.truncate(sentinel, 0))
probe.must_fail("create", lambda: (folder / ctx["marker"]).write_text("x"))
probe.must_fail("unlink", sentinel.unlink)
probe.must_fail("rename", lambda: sentinel.rename(folder / "moved.txt"))
probe.must_fail("chmod", lambda: sentinel.chmod(0o777))
probe.must_fail("utime", lambda: os.utime(sentinel, (0, 0)))
probe.must_fail("mkdir", (folder / "sub").mkdir)
probe.must_fail("symlink", lambda: (folder / "link").symlink_to("/etc/passwd"))
probe.report()
