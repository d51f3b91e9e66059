"""One big file in the writable mount, ignoring SIGXFSZ: writes must stop at EFBIG."""

import os
from pathlib import Path

from attack import Probe, context

ctx = context()
probe = Probe()
path = os.path.join(ctx["quarantine"], "big")  # noqa: PTH118
written = 0
chunk = b"\x04" * (1 << 16)
try:
    with open(path, "wb") as out:  # noqa: PTH123
        for _ in range(1 << 12):
            written += out.write(chunk)
            out.flush()
except OSError as exc:
    probe.note("stopped by", exc.strerror)
else:
    probe.escape("never refused", written)
probe.report(written=written, size=Path(path).stat().st_size)
