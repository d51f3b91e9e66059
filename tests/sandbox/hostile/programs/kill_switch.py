"""Say "ready" to the driver, then hold on: children ignore SIGTERM, main blocks."""

import os
import signal
import socket

from attack import context

ctx = context()
for _ in range(2):
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            signal.pause()
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
    sock.connect(ctx["ready_socket"])
    sock.sendall(b"ready")
    while True:
        signal.pause()
