"""Change routes and links over rtnetlink, and with the ip tool if there is one."""

import socket
import struct
import subprocess
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
RTM_NEWROUTE, NLM_F_REQUEST, NLM_F_CREATE, NLM_F_ACK = 24, 1, 0x400, 4
third = int(ctx["marker"][-2:], 16)


def add_route() -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        rtmsg = struct.pack("BBBBBBBBI", socket.AF_INET, 24, 0, 0, 254, 3, 0, 1, 0)
        dst = struct.pack("HH", 8, 1) + bytes([10, 213, third, 0])
        oif = struct.pack("HHI", 8, 4, 1)
        body = rtmsg + dst + oif
        flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK
        s.send(struct.pack("IHHII", 16 + len(body), RTM_NEWROUTE, flags, 1, 0) + body)
        s.settimeout(0.3)
        reply = s.recv(4096)
        error = struct.unpack("i", reply[16:20])[0]
        if error:
            raise OSError(-error, "netlink refused")


probe.must_fail("RTM_NEWROUTE", add_route)
probe.must_fail(
    "NETLINK_KOBJECT_UEVENT",
    lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15).close(),
)
if Path("/usr/sbin/ip").exists():
    done = subprocess.run(
        ["/usr/sbin/ip", "route", "add", f"10.214.{third}.0/24", "dev", "lo"],
        capture_output=True,
        check=False,
    )
    if done.returncode == 0:
        probe.escape("ip route add", "succeeded")
    else:
        probe.note("ip route add", done.stderr.decode().strip())
probe.report()
