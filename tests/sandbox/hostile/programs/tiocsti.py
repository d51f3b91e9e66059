"""Push keystrokes into terminals with TIOCSTI: ours, the controlling one, a host's."""

import fcntl
import os
import termios

from attack import Probe, context

ctx = context()
probe = Probe()
TIOCLINUX = 0x541C
keys = f"echo {ctx['marker']}\n"


def inject(fd: int) -> None:
    for char in keys:
        fcntl.ioctl(fd, termios.TIOCSTI, char.encode())


for fd in (0, 1, 2):
    probe.must_fail(f"fd {fd}", lambda f=fd: inject(f))
for path in ("/dev/tty", "/dev/console", "/dev/tty0", ctx["pty"]):
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    except OSError as exc:
        probe.note(f"open {path}", exc.strerror)
        continue
    probe.must_fail(path, lambda f=fd: inject(f))
    probe.must_fail(
        f"{path} TIOCLINUX", lambda f=fd: fcntl.ioctl(f, TIOCLINUX, b"\x02")
    )
# A new pty of our own works, but injecting into it crosses no boundary; the
# filter still refuses TIOCSTI on it.
main, sub = os.openpty()
probe.must_fail("own pty", lambda: inject(sub))
probe.report()
