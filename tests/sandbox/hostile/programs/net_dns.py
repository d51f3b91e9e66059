"""Resolve names, and send DNS queries to the host's resolvers and a fake one."""

import socket
import struct
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
probe.note("/etc/resolv.conf exists", Path("/etc/resolv.conf").exists())
for name in ("example.com", "pypi.org", f"{ctx['marker']}.example.net"):
    probe.must_fail(f"getaddrinfo {name}", lambda n=name: socket.getaddrinfo(n, 443))
query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in ("example", "com")) + b"\0"
query += struct.pack(">HH", 1, 1)
servers = [(ip, 53) for ip in ctx["resolvers"]]
servers += [("127.0.0.53", 53), ("8.8.8.8", 53), ("127.0.0.1", ctx["udp_port"])]
for host, port in servers:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(query, (host, port))
            answer = sock.recv(512)
        except OSError as exc:
            probe.note(f"{host}:{port}", exc.strerror or "timed out")
        else:
            probe.escape(f"{host}:{port}", answer.hex())
probe.report()
