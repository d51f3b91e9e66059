# ruff: noqa: S108 -- a well-known socket path, looked up inside
"""Connect to host Unix sockets by path: a test listener, D-Bus, Docker, systemd."""

import socket

from attack import Probe, context

ctx = context()
probe = Probe()
for path in (
    ctx["unix_path"],
    "/run/dbus/system_bus_socket",
    "/var/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/systemd/private",
    "/run/systemd/journal/socket",
    "/tmp/.X11-unix/X0",
):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        probe.must_fail(path, lambda s=sock, p=path: s.connect(p))
probe.report()
