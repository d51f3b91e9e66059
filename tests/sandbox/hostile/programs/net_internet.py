"""Reach the internet: public addresses, the host's gateway, any interface but lo."""

import socket
from pathlib import Path

from attack import Probe

probe = Probe()
# if_nameindex() needs netlink, which the sandbox refuses; /proc/net/dev does not.
lines = Path("/proc/net/dev").read_text().splitlines()[2:]
interfaces = [line.split(":")[0].strip() for line in lines]
if set(interfaces) - {"lo"}:
    probe.escape("interfaces", interfaces)
for host, port in (("1.1.1.1", 443), ("93.184.215.14", 80), ("2606:4700::1111", 443)):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        probe.must_fail(
            f"{host}:{port}", lambda s=sock, h=host, p=port: s.connect((h, p))
        )
probe.report(interfaces=interfaces)
