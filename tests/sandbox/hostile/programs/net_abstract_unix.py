"""Connect to the host's listener on an abstract Unix address (no file to hide)."""

import socket

from attack import Probe, context

ctx = context()
probe = Probe()
for kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
    with socket.socket(socket.AF_UNIX, kind) as sock:
        sock.settimeout(0.3)
        address = "\0" + ctx["abstract"]
        probe.must_fail(f"connect type {kind}", lambda s=sock, a=address: s.connect(a))
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
    probe.must_fail("sendto", lambda: sock.sendto(b"x", "\0" + ctx["abstract"]))
probe.report()
