"""Load eBPF: create a map, load a socket filter program."""

import ctypes

from attack import Probe

probe = Probe()
BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_SOCKET_FILTER = 2, 1
attr = (ctypes.c_uint32 * 32)(BPF_MAP_TYPE_ARRAY, 4, 8, 16)
probe.syscall_fails("BPF_MAP_CREATE", "bpf", BPF_MAP_CREATE, attr, ctypes.sizeof(attr))
# The program: put zero in register 0, then return.
insns = (ctypes.c_uint64 * 2)(0x00000000000000B7, 0x0000000000000095)
licence = ctypes.create_string_buffer(b"GPL")


class ProgAttr(ctypes.Structure):
    _fields_ = (
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("pad", ctypes.c_uint8 * 96),
    )


prog = ProgAttr(
    BPF_PROG_TYPE_SOCKET_FILTER,
    2,
    ctypes.addressof(insns),
    ctypes.addressof(licence),
)
probe.syscall_fails("BPF_PROG_LOAD", "bpf", BPF_PROG_LOAD, ctypes.byref(prog), 128)
probe.report()
