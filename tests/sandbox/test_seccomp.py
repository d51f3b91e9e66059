from __future__ import annotations

import os

from enclosure.sandbox import DENIED_SYSCALLS
from enclosure.sandbox._seccomp import build_filter, seccomp_memfd

BPF_INSN = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k


def test_filter_is_classic_bpf_compiled_once():
    program = build_filter()
    assert program
    assert len(program) % BPF_INSN == 0
    assert build_filter() is program


def test_every_start_gets_its_own_fd_at_offset_zero():
    a, b = seccomp_memfd(), seccomp_memfd()
    try:
        assert a != b
        assert os.lseek(a, 0, os.SEEK_CUR) == 0
        assert os.read(a, 1 << 20) == build_filter()
        assert os.read(b, 1 << 20) == build_filter()
    finally:
        os.close(a)
        os.close(b)


def test_the_deny_list_names_the_escape_hatches():
    for name in (
        "ptrace",
        "mount",
        "unshare",
        "setns",
        "keyctl",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "kexec_load",
        "init_module",
        "finit_module",
    ):
        assert name in DENIED_SYSCALLS
