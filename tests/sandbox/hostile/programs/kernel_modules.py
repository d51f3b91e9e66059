"""Load code into the kernel: kexec, init_module, finit_module; unload a module."""

import os
from pathlib import Path

from attack import Probe

probe = Probe()
probe.syscall_fails("kexec_load", "kexec_load", 0, 0, None, 0)
fd = os.open("/usr/bin/true", os.O_RDONLY)
probe.syscall_fails("kexec_file_load", "kexec_file_load", fd, fd, 0, b"", 0)
image = b"\x7fELF" + bytes(60)
probe.syscall_fails("init_module", "init_module", image, len(image), b"")
modules = sorted(Path("/usr/lib/modules").glob("*/kernel/**/*.ko*"))[:1]
target = os.open(modules[0], os.O_RDONLY) if modules else fd
probe.syscall_fails("finit_module", "finit_module", target, b"", 0)
O_NONBLOCK = 0o4000
for name in (b"loop", b"overlay", b"bridge"):
    probe.syscall_fails(
        f"delete_module {name.decode()}", "delete_module", name, O_NONBLOCK
    )
probe.report()
