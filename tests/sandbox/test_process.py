from __future__ import annotations

import threading

import anyio
import pytest

from enclosure.sandbox._process import ProcessSandbox

pytestmark = pytest.mark.sandbox


def test_bubblewrap_is_a_process_sandbox(make_sandbox):
    assert isinstance(make_sandbox(), ProcessSandbox)


def test_stdin_is_delivered_and_exit_codes_reported(make_sandbox):
    sandbox = make_sandbox()
    r = sandbox.exec_sync(["sh", "-c", "cat; exit 3"], input=b"hello")
    assert (r.stdout, r.exit_code, r.limit) == (b"hello", 3, None)


def test_a_child_that_ignores_stdin_does_not_block_the_watcher(make_sandbox):
    r = make_sandbox().exec_sync(["true"], input=b"x" * (1 << 20))
    assert r.exit_code == 0


def test_env_and_cwd_are_per_command(make_sandbox):
    r = make_sandbox().exec_sync(
        ["sh", "-c", "echo $GREETING; pwd"], env={"GREETING": "hi"}, cwd="/usr"
    )
    assert r.text().split() == ["hi", "/usr"]


def test_wall_time_kills_the_whole_tree(make_sandbox):
    sandbox = make_sandbox(wall_time=0.5)
    r = sandbox.exec_sync(["sh", "-c", "sleep 30 & sleep 30"])
    assert r.limit == "wall_time"
    assert r.duration_s < 5


def test_timeout_shortens_but_never_lengthens_wall_time(make_sandbox):
    sandbox = make_sandbox(wall_time=0.5)
    assert sandbox.exec_sync(["sleep", "30"], timeout=0.2).limit == "wall_time"
    r = sandbox.exec_sync(["sleep", "30"], timeout=999)
    assert r.limit == "wall_time"
    assert r.duration_s < 5


def test_output_beyond_the_cap_is_cut_and_stops_the_command(make_sandbox):
    sandbox = make_sandbox(output=1000)
    r = sandbox.exec_sync(["sh", "-c", "yes | head -c 100000; sleep 30"])
    assert r.limit == "output"
    assert r.stdout_truncated
    assert len(r.stdout) == 1000


def test_output_just_under_the_cap_arrives_intact(make_sandbox):
    sandbox = make_sandbox(output=70000)
    r = sandbox.exec_sync(["head", "-c", "69999", "/usr/bin/sh"])
    assert r.ok
    assert len(r.stdout) == 69999
    assert not r.stdout_truncated


def test_kill_from_another_thread_stops_a_running_command(make_sandbox):
    sandbox = make_sandbox(wall_time=30)
    results = []

    def work():
        results.append(sandbox.exec_sync(["sh", "-c", "echo up; exec sleep 60"]))

    worker = threading.Thread(target=work)
    worker.start()
    assert sandbox.wait_running(timeout=10)
    sandbox.kill()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert results[0].limit == "killed"


def test_concurrent_commands_share_a_sandbox(make_sandbox):
    sandbox = make_sandbox()

    async def main():
        out = []

        async def one(i):
            r = await sandbox.exec(["sh", "-c", f"echo {i}"])
            out.append(r.text().strip())

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for i in range(4):
                    tg.start_soon(one, i)
        return sorted(out)

    assert anyio.run(main) == ["0", "1", "2", "3"]


def test_read_and_write_file_see_what_the_program_sees(make_sandbox, tmp_path):
    from enclosure.sandbox import Mount  # noqa: PLC0415

    out = tmp_path / "out"
    out.mkdir()
    sandbox = make_sandbox(mounts=(Mount(out, "/work", writable=True),))

    async def main():
        await sandbox.write_file("/work/n.txt", b"data")
        assert await sandbox.read_file("/work/n.txt") == b"data"
        with pytest.raises(FileNotFoundError):
            await sandbox.read_file("/work/missing")
        with pytest.raises(PermissionError):
            await sandbox.write_file("/usr/evil", b"x")
        with pytest.raises(IsADirectoryError):
            await sandbox.read_file("/work")

    anyio.run(main)


def test_memory_cap_reports_memory(make_sandbox):
    sandbox = make_sandbox(memory="64MiB")
    if not sandbox.cgroups:
        pytest.skip("no cgroups: memory is capped by RLIMIT_AS, which gives ENOMEM")
    r = sandbox.exec_sync(["python3", "-c", "b = bytearray(512 * 1024 * 1024)"])
    assert r.limit == "memory"
    assert r.exit_code != 0


def test_cpu_cap_reports_cpu(make_sandbox):
    r = make_sandbox(cpu=0.3).exec_sync(["python3", "-c", "while True: pass"])
    assert r.limit == "cpu"
    assert r.cpu_s is None or r.cpu_s >= 0.3


def test_file_size_cap_reports_file_size(make_sandbox):
    r = make_sandbox(file_size=4096).exec_sync(
        ["sh", "-c", "head -c 100000 /dev/zero > /tmp/big"]
    )
    assert r.limit == "file_size"


def test_disk_cap_on_writable_mounts(make_sandbox, tmp_path):
    from enclosure.sandbox import Mount  # noqa: PLC0415

    out = tmp_path / "out"
    out.mkdir()
    sandbox = make_sandbox(
        mounts=(Mount(out, "/work", writable=True),), disk="1MiB", file_size="64MiB"
    )
    r = sandbox.exec_sync(
        ["sh", "-c", "while true; do head -c 65536 /dev/zero >> /work/fill; done"]
    )
    assert r.limit == "disk"
