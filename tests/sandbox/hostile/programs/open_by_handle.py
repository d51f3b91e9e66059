"""The "shocker" escape: open a host file by handle through the bind-mounted folder."""

import ctypes
import os

from attack import Probe, context

ctx = context()
probe = Probe()


class FileHandle(ctypes.Structure):
    _fields_ = (
        ("handle_bytes", ctypes.c_uint),
        ("handle_type", ctypes.c_int),
        ("f_handle", ctypes.c_ubyte * 128),
    )


handle = FileHandle(128, 0)
mount_id = ctypes.c_int()
AT_FDCWD = -100
probe.syscall_fails(
    "name_to_handle_at",
    "name_to_handle_at",
    AT_FDCWD,
    ctx["quarantine"].encode(),
    ctypes.byref(handle),
    ctypes.byref(mount_id),
    0,
)
# A handle for inode 2 (the root of an ext4 filesystem), generation 0.
guess = FileHandle(8, 1)
guess.f_handle[0] = 2
fd = os.open(ctx["quarantine"], os.O_RDONLY)
probe.syscall_fails(
    "open_by_handle_at", "open_by_handle_at", fd, ctypes.byref(guess), 0
)
probe.report()
