"""Open files until the descriptor table is full, then try to grow it."""

import os
import resource

from attack import Probe

probe = Probe()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
probe.note("RLIMIT_NOFILE", [soft, hard])
fds: list[int] = []
try:
    while len(fds) < 1 << 20:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as exc:
    probe.note("stopped by", exc.strerror)


def raise_limit() -> None:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard * 4, hard * 4))
    except ValueError as exc:  # Python's word for EPERM here
        raise PermissionError(1, str(exc)) from exc


probe.must_fail("raise RLIMIT_NOFILE", raise_limit)
probe.must_fail("dup2 past the limit", lambda: os.dup2(0, hard + 10))
probe.report(opened=len(fds), highest=max(fds, default=-1), hard=hard)
