"""What every hostile program shares: its context, raw syscalls and its verdict.

Runs inside the sandbox under /usr/bin/python3, with the stdlib and ctypes only.
The driver passes one JSON argument, the context: a marker to name files after,
host paths, ports and pids to aim at. A program prints one JSON line last,
``{"escaped": ..., "escapes": [...], "results": {...}}``. The driver never takes
that line alone: it checks the host from outside as well.
"""

from __future__ import annotations

import ctypes
import errno
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

# x86_64 system call numbers; the driver skips the suite on other machines.
NR = {
    "shmget": 29,
    "clone": 56,
    "msgget": 68,
    "ptrace": 101,
    "syslog": 103,
    "setuid": 105,
    "setgid": 106,
    "setgroups": 116,
    "capset": 126,
    "personality": 135,
    "vhangup": 153,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "lookup_dcookie": 212,
    "clock_settime": 227,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "open_tree": 428,
    "fsopen": 430,
    "pidfd_open": 434,
    "clone3": 435,
    "pidfd_getfd": 438,
}

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def context() -> dict:
    """The driver's JSON argument."""
    return json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}


def errno_name(code: int | None) -> str:
    return errno.errorcode.get(code or 0, str(code))


def syscall(name: str, *args: object) -> tuple[int, str]:
    """Call ``name`` raw; return its result and the errno name ("" on success)."""
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(NR[name]), *converted)
    if result == -1:
        return -1, errno_name(ctypes.get_errno())
    return result, ""


class Probe:
    """Records attempts; each one that should fail and does not is an escape."""

    def __init__(self) -> None:
        self.results: dict[str, object] = {}
        self.escapes: list[str] = []

    def must_fail(self, label: str, action: Callable[[], object]) -> object:
        """Run ``action``; it should raise ``OSError``."""
        try:
            value = action()
        except OSError as exc:
            self.results[label] = errno_name(exc.errno) if exc.errno else str(exc)
            return None
        self.escape(label, f"succeeded: {value!r}"[:4000])
        return value

    def syscall_fails(self, label: str, name: str, *args: object) -> int:
        """Call ``name`` raw; it should return -1."""
        result, err = syscall(name, *args)
        if result == -1:
            self.results[label] = err
        else:
            self.escape(label, f"succeeded: {result}")
        return result

    def note(self, label: str, value: object) -> None:
        self.results[label] = value

    def escape(self, label: str, what: object) -> None:
        self.results[label] = what
        self.escapes.append(label)

    def report(self, **observed: object) -> None:
        """Print the verdict line (always the last line on stdout)."""
        detail = ", ".join(self.escapes) or "every attempt was refused"
        verdict = {
            "escaped": bool(self.escapes),
            "detail": detail,
            "escapes": self.escapes,
            "results": self.results,
            **observed,
        }
        sys.stdout.write(json.dumps(verdict, default=str) + "\n")
        sys.stdout.flush()
