import os

import pytest

from enclosure.sandbox._spawn import Spawned

pytestmark = pytest.mark.sandbox


def test_a_spawned_process_talks_over_its_pipes_confined(make_sandbox):
    sandbox = make_sandbox()
    proc = sandbox.spawn(["sh", "-c", "echo started >&2; id -u; exec cat"])
    assert isinstance(proc, Spawned)
    os.write(proc.stdin, b"hello\n")
    os.close(proc.stdin)
    out = b""
    while chunk := os.read(proc.stdout, 100):
        out += chunk
    assert out == b"65534\nhello\n"  # the sandbox's own uid
    assert proc.wait(5) == 0
    assert proc.exited.wait(5)
    assert proc.stderr_tail() == "started\n"
    closed = []
    proc.on_close = closed.append
    proc.close()
    proc.close()
    assert closed == [proc]


def test_the_kill_switch_reaches_a_spawned_process(make_sandbox):
    sandbox = make_sandbox()
    proc = sandbox.spawn(["sleep", "60"])
    sandbox.kill()
    assert proc.wait(5) == 137
    assert proc.limit == "killed"
    proc.close()
