"""Fill the writable (quarantined) mount, which sits on the host's disk."""

import os

from attack import Probe, context

ctx = context()
probe = Probe()
chunk = b"\x03" * (1 << 20)
written = 0
for index in range(1 << 14):  # many files, each under the file-size cap
    path = os.path.join(ctx["quarantine"], f"fill-{index}")  # noqa: PTH118
    with open(path, "wb") as out:  # noqa: PTH123
        for _ in range(4):
            written += out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
probe.escape("never stopped", written)
probe.report()
