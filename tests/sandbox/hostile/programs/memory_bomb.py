"""A memory bomb: allocate and touch memory until something stops us."""

from attack import Probe

probe = Probe()
hoard: list[bytes] = []
while len(hoard) < 1 << 16:
    hoard.append(b"\x01" * (1 << 20))  # touched, so it is really charged
probe.escape("allocated", f"{len(hoard)} MiB")
probe.report()
