"""Send UDP to the host's listener: loopback, every host address, broadcast."""

import socket

from attack import Probe, context

ctx = context()
probe = Probe()
for host in [*ctx["host_ips"], "255.255.255.255"]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            sock.sendto(ctx["marker"].encode(), (host, ctx["udp_port"]))
            # On loopback a send "succeeds" inside the sandbox's own network
            # namespace; whether it arrived is for the driver to check outside.
            probe.note(host, "sent")
        except OSError as exc:
            probe.note(host, exc.strerror)
probe.report()
