"""The seccomp filter every sandboxed process runs under, built with libseccomp.

Default allow, with a deny list of the system calls a sandboxed program has no
business making: they reach kernel attack surface (bpf, io_uring, userfaultfd,
perf_event_open, keyctl), change the process's view of the system (mount, unshare,
setns, pivot_root, chroot), inspect or drive other processes (ptrace,
process_vm_*), load code into the kernel, or inject input into a terminal (TIOCSTI).
Refused calls fail with EPERM, so programs that probe for a feature fall back
instead of crashing; a foreign architecture's calls kill the process, so the
x32/i386 syscall tables cannot be used to go around the list.

The filter is compiled once per process into classic BPF and handed to bubblewrap
(``--seccomp FD``), which installs it just before it executes the command.
"""

from __future__ import annotations

import errno
import os
import socket
import termios
import threading
from typing import Any

from enclosure.errors import SandboxUnavailable

__all__ = ["DENIED_SYSCALLS", "build_filter", "seccomp_memfd"]

DENIED_SYSCALLS: tuple[str, ...] = (
    # other processes
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    # the mount table and namespaces
    "mount",
    "umount2",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    # kernel attack surface
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "fanotify_init",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    # loading code into the kernel, and the machine itself
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "syslog",
    "acct",
    "quotactl",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "vhangup",
    "nfsservctl",
    "uselib",
    "_sysctl",
)
"""Refused with EPERM for every sandboxed process."""

# personality(2) flags that weaken memory protections: ADDR_NO_RANDOMIZE,
# MMAP_PAGE_ZERO, ADDR_COMPAT_LAYOUT, READ_IMPLIES_EXEC, ADDR_LIMIT_32BIT/3GB.
_PERSONA_FLAGS = (0x0040000, 0x0100000, 0x0200000, 0x0400000, 0x0800000, 0x8000000)
# clone(2) flags that would create namespaces; clone3 passes its flags in memory,
# where seccomp cannot look, so it answers ENOSYS and libc falls back to clone.
_NS_FLAGS = 0x7E020000
_RAW_SOCKET_FAMILIES = (socket.AF_PACKET, getattr(socket, "AF_NETLINK", 16))

_lock = threading.Lock()
_cached: bytes | None = None


def _load() -> Any:
    try:
        import pyseccomp  # noqa: PLC0415 -- loads libseccomp; only sandboxes need it
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so.2 is missing
        msg = (
            f"libseccomp cannot be loaded ({exc}); install it: "
            "apt-get install libseccomp2, and pip install pyseccomp"
        )
        raise SandboxUnavailable(msg) from None
    return pyseccomp


def build_filter() -> bytes:
    """Return the filter as classic BPF, compiled once and cached.

    Raises:
        SandboxUnavailable: libseccomp is missing or refuses the rules.
    """
    global _cached  # noqa: PLW0603 -- one compiled filter per process
    with _lock:
        if _cached is None:
            _cached = _compile(_load())
        return _cached


def _compile(sc: Any) -> bytes:
    eperm = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(sc.ALLOW)
    try:
        f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
        for name in DENIED_SYSCALLS:
            _deny(f, sc, eperm, name)
        _deny(f, sc, sc.ERRNO(errno.ENOSYS), "clone3")
        # clone with any namespace flag; MASKED_EQ cannot say "any bit of", so one
        # rule per flag bit.
        for bit in range(32):
            if _NS_FLAGS & (1 << bit):
                f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, 1 << bit, 1 << bit))
        for request in (termios.TIOCSTI, getattr(termios, "TIOCLINUX", 0x541C)):
            f.add_rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
        for family in _RAW_SOCKET_FAMILIES:
            f.add_rule(eperm, "socket", sc.Arg(0, sc.EQ, family))
        f.add_rule(eperm, "socket", sc.Arg(1, sc.MASKED_EQ, 0xF, socket.SOCK_RAW))
        for flag in _PERSONA_FLAGS:
            # the flag set, and not the 0xffffffff "what is my persona" query
            mask = flag | 0x80000000
            f.add_rule(eperm, "personality", sc.Arg(0, sc.MASKED_EQ, mask, flag))
        for bit in range(31):
            # bit 31 set with any other bit clear: anything but the query itself
            mask = (1 << bit) | 0x80000000
            f.add_rule(eperm, "personality", sc.Arg(0, sc.MASKED_EQ, mask, 0x80000000))
        fd = os.memfd_create("enclosure-bpf", flags=0)
        try:
            with open(fd, "wb", closefd=False) as out:
                f.export_bpf(out)
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    except (OSError, ValueError, RuntimeError) as exc:
        msg = f"libseccomp refused the sandbox filter: {exc}"
        raise SandboxUnavailable(msg) from None


def _deny(f: Any, sc: Any, action: int, name: str) -> None:
    try:
        f.add_rule(action, name)
    except (OSError, ValueError, RuntimeError):
        # A name this architecture does not have (iopl on arm64): nothing to deny.
        if sc.resolve_syscall(sc.system_arch(), name) >= 0:
            raise


def seccomp_memfd() -> int:
    """Return a fresh file descriptor holding the filter, positioned at its start.

    bubblewrap reads the fd to its end, so every sandbox start needs its own.
    """
    program = build_filter()
    fd = os.memfd_create("enclosure-seccomp", flags=0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
