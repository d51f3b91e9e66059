from __future__ import annotations

import os
import signal
import subprocess

import pytest

from enclosure.manifest import ComputeSpec
from enclosure.sandbox import BwrapSandbox, SandboxSpec
from enclosure.sandbox import _spare as spare_module
from enclosure.sandbox._cgroup import Group
from enclosure.sandbox._spare import SHELL, scriptable, shell_exec_line

NASTY = [
    "$(touch /tmp/pwned)",
    "`id`",
    "a'b\"c",
    "x\ny\n",
    "*",
    "; exit 7",
    "",
    " lead",
    "tab\there",
    "ünï ✓",
    "\\",
    "99<&-",
    "!!",
    "{a,b}",
    "~",
]


def run_line(line: bytes, **kwargs):
    return subprocess.run(
        [SHELL, "--norc", "--noprofile", "-s"],
        input=line,
        capture_output=True,
        check=False,
        env={"HOME": "/nonexistent", "PATH": "/usr/bin:/bin"},
        **kwargs,
    )


def test_the_exec_line_hands_every_word_over_verbatim():
    line = shell_exec_line(
        ["/usr/bin/printf", "%s\\0", *NASTY], close=(), null_stdin=False
    )
    done = run_line(line)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(b"\0")[:-1] == [a.encode() for a in NASTY]


def test_the_exec_line_runs_with_an_empty_environment():
    line = shell_exec_line(["/usr/bin/env"], close=(), null_stdin=False)
    assert run_line(line).stdout == b""


def test_the_exec_line_shuts_descriptors_above_nine_and_stdin():
    r, w = os.pipe()
    try:
        line = shell_exec_line(
            ["/bin/ls", "/proc/self/fd"], close=(r,), null_stdin=True
        )
        script = b"exec 0<&-; " + line  # stdin is the script itself here
        done = subprocess.run(
            [SHELL, "--norc", "--noprofile", "-c", script.decode()],
            capture_output=True,
            check=False,
            pass_fds=(r,),
            stdin=subprocess.PIPE,
        )
    finally:
        os.close(r)
        os.close(w)
    fds = done.stdout.split()
    assert str(r).encode() not in fds
    assert b"0" in fds  # /dev/null, opened for the command


def test_a_word_with_an_undecodable_byte_round_trips():
    word = os.fsdecode(b"caf\xe9")
    line = shell_exec_line(["/usr/bin/printf", "%s", word], close=(), null_stdin=False)
    assert run_line(line).stdout == b"caf\xe9"


@pytest.mark.parametrize(
    ("cmd", "env", "ok"),
    [
        (["true"], {"A": "1"}, True),
        (["printf", "a\nb"], {"A": "$(x)\n"}, True),
        (["a\0b"], {}, False),
        (["true"], {"A=B": "1"}, False),
        (["true"], {"": "1"}, False),
        (["true"], {"A": "x\0y"}, False),
    ],
)
def test_what_can_travel_as_a_shell_line(cmd, env, ok):
    assert scriptable(cmd, env) is ok


# --- with a real sandbox ------------------------------------------------------------


@pytest.fixture
def sandbox():
    sb = BwrapSandbox(SandboxSpec(ComputeSpec(wall_time=30)))
    yield sb
    sb.cleanup()


def ready_spare(sb: BwrapSandbox) -> spare_module.Spare:
    spare = sb._spare
    assert spare is not None
    assert spare.wait(10), spare.error
    return spare


def procs_of(group: Group) -> set[int]:
    found: set[int] = set()
    for folder in group.dirs.values():
        found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
    return found


@pytest.mark.sandbox
def test_a_new_sandbox_has_a_launcher_waiting_in_its_own_cgroup(sandbox):
    spare = ready_spare(sandbox)
    assert spare.proc is not None
    assert spare.proc.poll() is None
    if sandbox.cgroups:
        assert spare.group is not None
        assert procs_of(spare.group) == {spare.proc.pid}


@pytest.mark.sandbox
def test_a_command_starts_in_the_spare_and_nothing_is_moved_meanwhile(
    sandbox, monkeypatch
):
    spare = ready_spare(sandbox)
    moves: list[int] = []
    real_add = Group.add

    def counting_add(self: Group, pid: int) -> None:
        moves.append(pid)
        real_add(self, pid)

    monkeypatch.setattr(Group, "add", counting_add)
    started = sandbox._start(["true"], cwd=None, env=None, stdin=None)
    assert started.proc is spare.proc
    assert started.group is spare.group
    # The next spare may already be forked and moved by the forker thread;
    # the command itself must not have been.
    assert spare.proc.pid not in moves
    started.proc.communicate()
    sandbox._active.discard(started)
    sandbox._release_group(started.group)
    started.close()
    result = sandbox.exec_sync(["sh", "-c", "echo hi; exit 3"])
    assert (result.exit_code, result.stdout) == (3, b"hi\n")


@pytest.mark.sandbox
def test_each_command_gets_a_fresh_spare(sandbox):
    pids = set()
    for _ in range(3):
        pids.add(ready_spare(sandbox).proc.pid)  # type: ignore[union-attr]
        assert sandbox.exec_sync(["true"]).ok
    assert len(pids) == 3


@pytest.mark.sandbox
def test_a_spare_killed_while_it_waits_is_replaced_and_the_command_runs(sandbox):
    spare = ready_spare(sandbox)
    assert spare.proc is not None
    os.killpg(spare.proc.pid, signal.SIGKILL)
    spare.proc.wait()
    result = sandbox.exec_sync(["sh", "-c", "echo still here"])
    assert result.ok, result
    assert result.stdout == b"still here\n"
    assert sandbox._spare is not spare


@pytest.mark.sandbox
def test_a_spare_that_never_gets_ready_is_dropped_for_a_fresh_start(
    sandbox, monkeypatch
):
    ready_spare(sandbox)
    monkeypatch.setattr(spare_module.Spare, "wait", lambda self, timeout=0: False)
    result = sandbox.exec_sync(["echo", "fresh"])
    assert result.ok
    assert result.stdout == b"fresh\n"


@pytest.mark.sandbox
def test_an_environment_the_shell_cannot_carry_takes_the_fresh_path(sandbox):
    spare = ready_spare(sandbox)
    with pytest.raises(ValueError, match="environment"):
        sandbox.exec_sync(["true"], env={"A=B": "1"})
    assert spare.proc is not None
    assert spare.proc.wait(10) is not None  # discarded, not left waiting
    assert ready_spare(sandbox) is not spare


@pytest.mark.sandbox
def test_cleanup_kills_the_spare_and_removes_its_cgroup():
    sb = BwrapSandbox(SandboxSpec(ComputeSpec()))
    spare = ready_spare(sb)
    sb.cleanup()
    assert spare.proc is not None
    assert spare.proc.poll() is not None
    if spare.group is not None:
        assert not any(d.exists() for d in spare.group.dirs.values())
    assert sb._spare is None


@pytest.mark.sandbox
def test_without_spares_nothing_waits_in_the_background():
    sb = BwrapSandbox(SandboxSpec(ComputeSpec()), spares=False)
    try:
        assert sb._spare is None
        assert sb.exec_sync(["true"]).ok
        assert sb._spare is None
    finally:
        sb.cleanup()


@pytest.mark.sandbox
def test_a_spare_forked_for_a_dropped_sandbox_does_not_outlive_it():
    sb = BwrapSandbox(SandboxSpec(ComputeSpec()))
    spare = sb._spare
    assert spare is not None
    sb.cleanup()  # possibly before the forker got to it
    assert spare.wait(10) is False or spare.proc.poll() is not None  # type: ignore[union-attr]
