"""Hostile programs against every sandbox boundary, each checked from outside.

Each program in ``programs/`` tries one attack and prints what it saw. The
verdict is looked at last: first ``assert_contained`` (conftest) checks the
host itself, then each table adds the check its boundary shares: a cap that
fired with the right name, a file on the host side of the writable mount, a
process that must be gone. The caps are small so that no case takes more than a
second or so; the sandbox's own watcher bounds every wait, and the one test that
waits for a program does so on a socket, never on a clock.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from enclosure.sandbox import Mount

pytestmark = pytest.mark.sandbox

PROGRAMS = Path(__file__).parent / "programs"
MIB = 1024 * 1024

# --- reading what the host keeps ------------------------------------------------------

SECRET_READERS = [
    "read_shadow.py",
    "read_root_home.py",
    "read_host_home.py",
    "read_ssh_keys.py",
    "read_planted_secret.py",
    "read_proc1_environ.py",
    "read_host_pid_environ.py",
    "read_decision_log.py",
    "ipc_sysv.py",
]


@pytest.mark.parametrize("program", SECRET_READERS)
def test_host_secrets_never_reach_the_output(hostile, program: str) -> None:
    hostile.expect_refused(program)


def test_root_only_proc_files_stay_closed(hostile) -> None:
    run = hostile.expect_refused("read_proc_root_only.py")
    assert b"slabinfo - version" not in run.output
    assert b"vmap" not in run.output


def test_only_the_allowlisted_environment_is_inside(hostile) -> None:
    run = hostile.expect_refused("env_allowlist.py")
    inside, given = run.verdict["environ"], dict(run.sandbox.spec.env)
    assert set(inside) <= {*given, "PWD", "LC_CTYPE"}  # set by bwrap and python
    assert {k: v for k, v in inside.items() if k in given} == given


def test_the_host_name_is_not_visible_or_changeable(hostile) -> None:
    run = hostile.expect_refused("hostname.py")
    host = socket.gethostname()
    assert host not in (run.verdict["hostname"], run.verdict["uname"])


def test_proc_shows_only_the_sandboxes_own_processes(hostile) -> None:
    run = hostile.expect_refused("proc_visibility.py")
    processes = run.verdict["processes"]
    assert len(processes) <= 3, processes
    arguments = {arg for cmdline in processes.values() for arg in cmdline.split("\0")}
    assert hostile.world.ctx["holder_marker"] not in arguments


# --- writing where it may not ---------------------------------------------------------

WRITERS = [
    "write_system_paths.py",
    "write_ro_input.py",
    "write_proc_sys.py",
    "write_sys.py",
    "symlink_escape.py",
    "proc_root_escape.py",
    "overwrite_bwrap.py",
    "open_by_handle.py",
]


@pytest.mark.parametrize("program", WRITERS)
def test_writes_outside_the_writable_mount_leave_the_host_unchanged(
    hostile, program: str
) -> None:
    hostile.expect_refused(program)


def test_hard_links_cannot_pull_files_into_the_writable_mount(hostile) -> None:
    run = hostile.expect_refused("hardlink.py")
    assert all(p.lstat().st_nlink == 1 for p in run.quarantine.rglob("*"))


def test_the_sandbox_is_not_root_on_the_host(hostile, monkeypatch) -> None:
    # Run as root, sandboxes keep host uid 0 (without capabilities) unless
    # ENCLOSURE_SANDBOX_UID asks for an unprivileged one: the layer this checks.
    if os.geteuid() == 0:
        monkeypatch.setenv("ENCLOSURE_SANDBOX_UID", "65534")
    run = hostile.run("host_uid.py")
    hostile.assert_contained(run)
    owner = (run.quarantine / "owner-probe").lstat()
    assert (owner.st_uid, owner.st_gid) != (0, 0), "files written inside are root's"
    assert run.verdict["escaped"] is False, run.verdict


# --- devices --------------------------------------------------------------------------

DEVICE_PROGRAMS = ["device_nodes.py", "dev_kmsg.py", "mknod.py", "tiocsti.py"]


@pytest.mark.parametrize("program", DEVICE_PROGRAMS)
def test_devices_and_terminals_are_out_of_reach(hostile, program: str) -> None:
    run = hostile.expect_refused(program)
    for path in run.quarantine.rglob("*"):
        mode = path.lstat().st_mode
        assert not stat.S_ISCHR(mode), path
        assert not stat.S_ISBLK(mode), path


# --- the network ----------------------------------------------------------------------

NETWORK_PROGRAMS = [
    "net_tcp_host.py",
    "net_udp_host.py",
    "net_dns.py",
    "net_raw_socket.py",
    "net_af_packet.py",
    "net_netlink_route.py",
    "net_abstract_unix.py",
    "net_unix_path.py",
    "net_internet.py",
]


@pytest.mark.parametrize("program", NETWORK_PROGRAMS)
def test_no_host_listener_hears_from_the_sandbox(hostile, program: str) -> None:
    hostile.expect_refused(program)  # the listeners are checked in assert_contained


# --- the kernel's wider surface -------------------------------------------------------

KERNEL_PROGRAMS = [
    "ptrace_attach.py",
    "process_vm_readv.py",
    "pidfd_getfd.py",
    "mount.py",
    "umount.py",
    "unshare.py",
    "setns.py",
    "clone_newuser.py",
    "keyctl.py",
    "bpf.py",
    "perf_event_open.py",
    "userfaultfd.py",
    "io_uring.py",
    "kernel_modules.py",
    "personality.py",
    "chroot_pivot_root.py",
    "capabilities.py",
    "suid_binaries.py",
    "kill_host.py",
    "reboot.py",
    "misc_privileged.py",
    "seccomp_foreign_abi.py",
]


@pytest.mark.parametrize("program", KERNEL_PROGRAMS)
def test_privileged_kernel_interfaces_are_refused(hostile, program: str) -> None:
    hostile.expect_refused(program)


def test_no_capability_is_left(hostile) -> None:
    run = hostile.expect_refused("capabilities.py")
    status = run.verdict["status"]
    assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == "0" * 16
    assert status["NoNewPrivs"] == "1"


# --- resources ------------------------------------------------------------------------

CAPS_THAT_FIRE = [
    pytest.param("fork_bomb.py", {"processes": 12}, "processes", id="fork-bomb"),
    pytest.param("thread_bomb.py", {"processes": 12}, "processes", id="thread-bomb"),
    pytest.param("memory_bomb.py", {"memory": 48 * MIB}, "memory", id="memory-bomb"),
    pytest.param("cpu_spin.py", {"cpu": 0.5}, "cpu", id="cpu-spin"),
    pytest.param("cpu_spin_multi.py", {"cpu": 0.5}, "cpu", id="cpu-spin-8-procs"),
    pytest.param("stdout_flood.py", {"output": 64 * 1024}, "output", id="stdout"),
    pytest.param("stderr_flood.sh", {"output": 64 * 1024}, "output", id="stderr"),
    pytest.param("sleep_past_wall.py", {"wall_time": 0.5}, "wall_time", id="sleep"),
    pytest.param("big_file.sh", {"file_size": MIB}, "file_size", id="sigxfsz"),
    pytest.param(
        "quarantine_fill.py",
        {"disk": 4 * MIB, "file_size": 4 * MIB},
        "disk",
        id="disk-fill",
    ),
]


@pytest.mark.parametrize(("program", "caps", "limit"), CAPS_THAT_FIRE)
def test_each_cap_stops_its_bomb_and_says_which(
    hostile, program: str, caps: dict[str, float], limit: str
) -> None:
    run = hostile.run(program, **caps)
    hostile.assert_contained(run)
    result = run.result
    assert result is not None
    assert result.limit == limit, (result.limit, result.exit_code, run.output[-500:])
    assert len(result.stdout) <= 64 * 1024 or limit != "output"
    assert len(result.stderr) <= 64 * 1024 or limit != "output"
    if limit == "output":
        assert result.stdout_truncated or result.stderr_truncated
    if limit == "cpu":
        assert result.cpu_s is not None
        assert result.cpu_s < caps["cpu"] + 1
    if limit == "disk":
        # The watcher polls every 50 ms, so a fast writer overshoots the cap by
        # what it writes in that time (about 24 MiB here); the bound is loose.
        size = sum(p.lstat().st_size for p in run.quarantine.rglob("*"))
        assert size <= caps["disk"] + 64 * MIB, f"{size} bytes landed on the host"
    assert not run.verdict.get("escaped"), run.verdict


def test_a_fork_bomb_is_capped_by_rlimits_without_cgroups(hostile, monkeypatch):
    monkeypatch.setenv("ENCLOSURE_CGROUPS", "off")
    run = hostile.prepare("fork_bomb.py", processes=16, extra={"max_forks": 64})
    assert not run.sandbox.cgroups
    hostile.execute(run)
    hostile.assert_contained(run)
    assert run.verdict["children"] <= 16, "RLIMIT_NPROC did not stop the fork bomb"


def test_a_full_tmp_fails_with_enospc_at_its_size(hostile) -> None:
    run = hostile.expect_refused("tmp_fill.py", tmp_size=4 * MIB)
    assert run.verdict["results"]["stopped by"] == "No space left on device"
    assert run.verdict["written"] <= 4 * MIB


def test_a_file_past_the_size_cap_fails_with_efbig(hostile) -> None:
    run = hostile.expect_refused("big_file_efbig.py", file_size=MIB)
    assert (run.quarantine / "big").stat().st_size <= MIB  # measured on the host


def test_descriptor_exhaustion_stays_inside_the_cap(hostile) -> None:
    run = hostile.expect_refused("fd_exhaustion.py", open_files=32)
    assert run.verdict["hard"] == 32
    assert run.verdict["highest"] < 32


# --- outliving the sandbox ------------------------------------------------------------

ESCAPEES = ["daemon_double_fork.py", "setsid_nohup.sh", "ignore_sigterm.py"]


@pytest.mark.parametrize("program", ESCAPEES)
def test_nothing_outlives_the_command(hostile, program: str) -> None:
    run = hostile.run(program)
    hostile.assert_contained(run)  # no process with the marker, empty cgroups
    assert run.result is not None
    assert run.result.limit is None  # returned when the command did, not at wall time
    assert run.verdict["escaped"] is False


def test_the_kill_switch_stops_a_running_tree_at_once(hostile) -> None:
    signal_dir = hostile.folder / "signal"
    signal_dir.mkdir(mode=0o777)
    signal_dir.chmod(0o777)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as ready:
        ready.bind(str(signal_dir / "ready.sock"))
        (signal_dir / "ready.sock").chmod(0o777)
        ready.listen(1)
        ready.settimeout(10)
        run = hostile.prepare(
            "kill_switch.py",
            mounts=(Mount(signal_dir, "/signal", writable=True),),
            extra={"ready_socket": "/signal/ready.sock"},
        )
        worker = threading.Thread(target=hostile.execute, args=(run,), daemon=True)
        worker.start()
        conn, _ = ready.accept()  # the program is running, its children started
        conn.close()
        run.sandbox.kill()
        worker.join(timeout=10)
    assert not worker.is_alive(), "kill() did not stop the command"
    hostile.assert_contained(run)
    assert run.result is not None
    assert run.result.limit == "killed"


def test_every_program_is_driven() -> None:
    driven = {
        *SECRET_READERS,
        *WRITERS,
        *DEVICE_PROGRAMS,
        *NETWORK_PROGRAMS,
        *KERNEL_PROGRAMS,
        *ESCAPEES,
        *(p.values[0] for p in CAPS_THAT_FIRE),
        "read_proc_root_only.py",
        "env_allowlist.py",
        "hostname.py",
        "proc_visibility.py",
        "hardlink.py",
        "host_uid.py",
        "tmp_fill.py",
        "big_file_efbig.py",
        "fd_exhaustion.py",
        "kill_switch.py",
    }
    programs = {p.name for p in PROGRAMS.iterdir() if p.suffix in (".py", ".sh")}
    assert programs - {"attack.py"} == driven
    assert len(driven) >= 45
