"""Connect to the host's TCP listener: loopback, IPv6 loopback, every host address."""

import socket

from attack import Probe, context

ctx = context()
probe = Probe()
for host in ctx["host_ips"]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        probe.must_fail(
            f"{host}:{ctx['tcp_port']}",
            lambda s=sock, h=host: s.connect((h, ctx["tcp_port"])),
        )
probe.report()
