"""Open raw IP sockets (spoof packets, sniff) and ICMP ping sockets."""

import socket

from attack import Probe, context

ctx = context()
probe = Probe()
for label, args in {
    "raw icmp": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "raw tcp": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP),
    "raw ip (send any)": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
    "raw icmpv6": (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
    "raw nonblocking": (
        socket.AF_INET,
        socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
        socket.IPPROTO_ICMP,
    ),
}.items():
    probe.must_fail(label, lambda a=args: socket.socket(*a).close())
# Unprivileged ping sockets may exist, but must not reach past the sandbox.
for host in ctx["host_ips"]:
    if ":" in host or host.startswith("127."):
        continue
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP) as s:
            s.settimeout(0.2)
            s.sendto(b"\x08\x00\x00\x00\x00\x01\x00\x01", (host, 0))
            probe.escape(f"ping {host}", s.recv(64).hex())
    except OSError as exc:
        probe.note(f"ping {host}", exc.strerror or "timed out")
probe.report()
