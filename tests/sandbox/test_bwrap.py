from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from enclosure.errors import SandboxUnavailable
from enclosure.manifest import ComputeSpec
from enclosure.sandbox import BwrapSandbox, Mount, SandboxSpec, find_bwrap
from enclosure.sandbox import _bwrap as bwrap_module


def fake_bwrap(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "bwrap"
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return script


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch):
    monkeypatch.setattr(bwrap_module, "_probed", {})


def test_an_explicit_bwrap_that_is_missing_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("ENCLOSURE_BWRAP", str(tmp_path / "nope"))
    with pytest.raises(SandboxUnavailable) as info:
        find_bwrap()
    assert info.value.code == "E-SANDBOX-UNAVAILABLE"
    assert "apt-get install bubblewrap" in info.value.message


def test_a_bwrap_too_old_for_the_tmp_cap_is_refused(monkeypatch, tmp_path):
    old = fake_bwrap(tmp_path, 'echo "bubblewrap 0.8.0"')
    monkeypatch.setenv("ENCLOSURE_BWRAP", str(old))
    with pytest.raises(SandboxUnavailable) as info:
        BwrapSandbox(SandboxSpec(ComputeSpec()))
    assert "0.10" in info.value.message


def test_no_user_namespaces_means_no_sandbox(monkeypatch, tmp_path):
    script = fake_bwrap(
        tmp_path,
        '[ "$1" = --version ] && { echo "bubblewrap 0.11.0"; exit 0; }\n'
        'echo "bwrap: No permissions to create new namespace" >&2; exit 1',
    )
    script.chmod(script.stat().st_mode | stat.S_IXOTH)
    monkeypatch.setenv("ENCLOSURE_BWRAP", str(script))
    with pytest.raises(SandboxUnavailable) as info:
        BwrapSandbox(SandboxSpec(ComputeSpec()))
    assert "namespace" in info.value.message
    assert "max_user_namespaces" in info.value.message


def test_sandbox_uid_zero_is_refused(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("ENCLOSURE_SANDBOX_UID", "0")
    with pytest.raises(SandboxUnavailable):
        bwrap_module._sandbox_uid()
    monkeypatch.setenv("ENCLOSURE_SANDBOX_UID", "x")
    with pytest.raises(SandboxUnavailable):
        bwrap_module._sandbox_uid()


@pytest.mark.sandbox
def test_argv_isolates_every_namespace_and_drops_capabilities(make_sandbox):
    argv = make_sandbox().argv(["true"])
    for flag in (
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--tmpfs") - 1] == str(4 * 1024**2)
    assert argv.index("--remount-ro") < argv.index("--")
    assert argv[-1] == "true"
    assert "/usr/bin/prlimit" in argv


@pytest.mark.sandbox
def test_the_sandbox_sees_its_own_identity_and_no_host_home(make_sandbox):
    r = make_sandbox().exec_sync(
        ["sh", "-c", "id -un; hostname; ls /; cat /etc/passwd; ls /root 2>&1"]
    )
    lines = r.text().splitlines()
    assert lines[0] == "sandbox"
    assert lines[1] == "enclosure"
    assert "root" not in lines[2:12]
    assert "No such file" in r.text()


@pytest.mark.sandbox
def test_read_only_and_writable_mounts(make_sandbox, tmp_path):
    inputs, scratch = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    scratch.mkdir()
    (inputs / "a.txt").write_text("input\n", encoding="utf-8")
    sandbox = make_sandbox(
        mounts=(
            Mount(inputs, "/data/in"),
            Mount(scratch, "/data/out", writable=True),
        )
    )
    r = sandbox.exec_sync(
        [
            "sh",
            "-c",
            (
                "cat /data/in/a.txt; echo x > /data/in/b 2>/dev/null || echo ro;"
                " echo y > /data/out/c && echo rw"
            ),
        ]
    )
    assert r.text().split() == ["input", "ro", "rw"]
    assert not (inputs / "b").exists()
    assert (scratch / "c").read_text(encoding="utf-8") == "y\n"


@pytest.mark.sandbox
def test_a_missing_mount_source_refuses_instead_of_running(make_sandbox, tmp_path):
    sandbox = make_sandbox(mounts=(Mount(tmp_path / "gone", "/data"),))
    with pytest.raises(SandboxUnavailable) as info:
        sandbox.exec_sync(["true"])
    assert "could not set up" in info.value.message


@pytest.mark.sandbox
def test_a_cleaned_up_sandbox_refuses_to_run(make_sandbox):
    sandbox = make_sandbox()
    sandbox.cleanup()
    sandbox.cleanup()
    with pytest.raises(SandboxUnavailable):
        sandbox.exec_sync(["true"])


@pytest.mark.sandbox
def test_exec_needs_a_command(make_sandbox):
    with pytest.raises(ValueError, match="command"):
        make_sandbox().exec_sync([])


def zombie_children() -> list[str]:
    """Our own children that have exited and nobody reaped."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "status").read_text(encoding="utf-8")
        except OSError:
            continue
        status = dict(
            line.split(":\t", 1) for line in text.splitlines() if ":\t" in line
        )
        if status.get("PPid") == me and status.get("State", "").startswith("Z"):
            found.append(f"{entry.name} {status.get('Name')}")
    return found


@pytest.mark.sandbox
@pytest.mark.parametrize("spares", [True, False], ids=["spares", "fresh"])
def test_many_commands_leave_no_zombie_and_no_pid_behind(spares):
    # bwrap exits before reaping its pid 1; unreaped, each command would keep a
    # pid of its cgroup, and with a cap of 4 the fifth command could not fork.
    before = set(zombie_children())  # other tests' bare bwrap runs leave theirs
    sandbox = BwrapSandbox(SandboxSpec(ComputeSpec(processes=4)), spares=spares)
    try:
        for i in range(12):
            r = sandbox.exec_sync(["sh", "-c", "true | true"])
            assert r.ok, (i, r)
        assert set(zombie_children()) - before == set()
        if sandbox.cgroups:
            spare = (
                sandbox._spare.group
                if sandbox._spare and sandbox._spare.wait()
                else None
            )
            for group in sandbox._pool._idle:
                if group is not spare:
                    pids = (
                        group.dirs["pids"]
                        if "pids" in group.dirs
                        else group.dirs["unified"]
                    )
                    assert (pids / "pids.current").read_text().strip() == "0"
    finally:
        sandbox.cleanup()


@pytest.mark.sandbox
def test_a_killed_command_leaves_no_zombie(make_sandbox):
    before = set(zombie_children())
    sandbox = make_sandbox()
    done = threading.Event()

    def kill_when_running() -> None:
        assert sandbox.wait_running(10)
        sandbox.kill()
        done.set()

    threading.Thread(target=kill_when_running).start()
    r = sandbox.exec_sync(["sh", "-c", "sleep 60 & sleep 60; wait"])
    assert done.wait(10)
    assert r.limit == "killed"
    assert set(zombie_children()) - before == set()
