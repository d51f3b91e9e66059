from __future__ import annotations

import subprocess

import pytest

from enclosure.sandbox._cgroup import CgroupPool, _field


def test_fields_are_read_by_name():
    assert _field("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill") == 3
    assert _field("max 0\n", "max") == 0
    assert _field("", "max") == 0


def test_cgroups_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("ENCLOSURE_CGROUPS", "off")
    pool = CgroupPool()
    assert not pool.available
    assert pool.acquire(memory=1 << 20, processes=4) is None


@pytest.fixture
def pool():
    pool = CgroupPool()
    if not pool.available:
        pytest.skip("this machine gives us no cgroups (rlimits only)")
    yield pool
    pool.close()


def test_a_group_holds_a_process_and_kills_its_tree(pool):
    group = pool.acquire(memory=64 << 20, processes=8)
    assert group is not None
    proc = subprocess.Popen(["sleep", "60"])
    try:
        group.add(proc.pid)
        assert group.pids() == [proc.pid]
        group.kill_all()
        assert proc.wait(timeout=10) == -9
        assert group.pids() == []
    finally:
        proc.kill()
        proc.wait()
    pool.release(group)
    again = pool.acquire(memory=64 << 20, processes=8)
    assert again is group  # reused, not recreated


def test_counters_move_with_cpu_use(pool):
    group = pool.acquire(memory=64 << 20, processes=8)
    assert group is not None
    before = group.counters()
    proc = subprocess.Popen(
        [
            "python3",
            "-c",
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.05: pass",  # noqa: E501
        ]
    )
    group.add(proc.pid)
    proc.wait(timeout=30)
    assert group.counters().cpu_ns > before.cpu_ns
    pool.release(group)


def test_close_removes_every_group(pool):
    group = pool.acquire(memory=64 << 20, processes=8)
    assert group is not None
    dirs = list(group.dirs.values())
    assert all(d.exists() for d in dirs)
    pool.close()
    assert not any(d.exists() for d in dirs)
