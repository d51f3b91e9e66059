"""Open link-layer sockets: AF_PACKET raw and datagram, and the old SOCK_PACKET."""

import socket

from attack import Probe

probe = Probe()
ETH_P_ALL = 0x0003
SOCK_PACKET = 10
for label, args in {
    "AF_PACKET SOCK_RAW": (socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)),
    "AF_PACKET SOCK_DGRAM": (
        socket.AF_PACKET,
        socket.SOCK_DGRAM,
        socket.htons(ETH_P_ALL),
    ),
    "AF_INET SOCK_PACKET": (socket.AF_INET, SOCK_PACKET, socket.htons(ETH_P_ALL)),
}.items():
    probe.must_fail(label, lambda a=args: socket.socket(*a).close())
probe.report()
