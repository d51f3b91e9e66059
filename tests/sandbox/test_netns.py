from __future__ import annotations

import ctypes
import errno
import os
import resource
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING

import pytest

from enclosure.errors import SandboxUnavailable
from enclosure.manifest import ComputeSpec
from enclosure.sandbox import BwrapSandbox, Mount, SandboxSpec
from enclosure.sandbox._netns import _listener, listen_in_netns

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ENV = {"PATH": "/usr/bin:/bin"}
REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def answer_once(sock: socket.socket, seen: list[bytes]) -> threading.Thread:
    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            seen.append(conn.recv(4096))
            conn.sendall(REPLY)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.fixture(params=[True, False], ids=["spares", "fresh"])
def sandbox(request, tmp_path):
    sb = BwrapSandbox(
        SandboxSpec(
            ComputeSpec(wall_time=20),
            mounts=(Mount(tmp_path, "/out", writable=True),),
            env=ENV,
        ),
        spares=request.param,
    )
    yield sb
    sb.cleanup()


@pytest.mark.sandbox
@pytest.mark.parametrize("fork", [False, True], ids=["thread", "forked-child"])
def test_a_socket_made_in_the_sandbox_namespace_is_its_only_way_out(sandbox, fork):
    seen: list[bytes] = []
    pids: list[int] = []

    def attach(pid: int):
        pids.append(pid)
        sock = listen_in_netns(pid, 3128, fork=fork)
        answer_once(sock, seen)
        return sock.close

    r = sandbox.exec_sync(
        ["curl", "-sS", "--max-time", "10", "http://127.0.0.1:3128/hi"],
        on_start=attach,
    )
    assert (r.exit_code, r.stdout) == (0, b"hello"), r
    assert seen[0].startswith(b"GET /hi HTTP/1.1")
    # The socket lived in the sandbox's namespace, not on the host's loopback.
    host = socket.socket()
    try:
        assert host.connect_ex(("127.0.0.1", 3128)) != 0 or not seen[1:]
    finally:
        host.close()
    # Without the hook, the next command has no way out at all.
    r = sandbox.exec_sync(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:3128/"])
    assert r.exit_code == 7, r  # could not connect


@pytest.mark.sandbox
def test_the_hook_runs_before_the_command_and_its_cleanup_after(sandbox):
    order: list[str] = []

    def attach(pid: int):
        order.append(f"attach {pid > 0}")
        return lambda: order.append("detach")

    r = sandbox.exec_sync(["sh", "-c", "echo ran"], on_start=attach)
    order.append(f"result {r.stdout.decode().strip()}")
    assert order == ["attach True", "detach", "result ran"]


@pytest.mark.sandbox
def test_a_hook_that_fails_refuses_the_command_before_it_runs(sandbox, tmp_path):
    def attach(pid: int):
        raise OSError("no namespace for you")

    with pytest.raises(SandboxUnavailable) as info:
        sandbox.exec_sync(["sh", "-c", "echo x > /out/ran"], on_start=attach)
    assert "no namespace for you" in info.value.message
    assert not (tmp_path / "ran").exists()
    assert sandbox.exec_sync(["true"]).ok  # the sandbox itself still works


def test_a_process_that_is_gone_has_no_namespace_to_listen_in():
    with pytest.raises(FileNotFoundError):
        listen_in_netns(2**22 + 12345, 3128, fork=False)
    with pytest.raises(FileNotFoundError):
        listen_in_netns(2**22 + 12345, 3128, fork=True)


@pytest.fixture
def fresh_netns() -> Iterator[int]:
    """A process in a network namespace of its own: 127.0.0.1 on lo, no other."""
    if os.geteuid() != 0:
        pytest.skip("unshare --net needs root")
    command = "ip addr add 127.0.0.1/8 dev lo; echo in; exec cat"
    with subprocess.Popen(
        ["unshare", "--net", "sh", "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"in\n"  # the shell is in the new namespace
        yield proc.pid
        proc.kill()


def _in_netns(pid: int, work: Callable[[], None]) -> None:
    """Run ``work`` on a thread inside ``pid``'s network namespace."""

    def inside() -> None:
        netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            assert ctypes.CDLL(None, use_errno=True).setns(netns, 0x40000000) == 0
        finally:
            os.close(netns)
        work()

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join(10)


@pytest.mark.parametrize("fds", [0, 1100], ids=["few-fds", "fds-past-1024"])
def test_a_listener_waits_for_its_address_to_come(fresh_netns, fds):
    # As the sandbox's loopback may still be being set up when its pid is known,
    # a bind that finds no address waits for the namespace's address news (also
    # in a busy server, whose descriptors go past select()'s 1024).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if fds and soft < fds + 100:
        if hard != resource.RLIM_INFINITY and hard < fds + 100:
            pytest.skip(f"only {hard} descriptors may be open")
        resource.setrlimit(resource.RLIMIT_NOFILE, (fds + 100, hard))
    held = [os.dup(0) for _ in range(fds)]
    made: list[socket.socket] = []
    waiting = threading.Thread(
        target=_in_netns,
        args=(
            fresh_netns,
            lambda: made.append(_listener(0, wait=10, host="10.9.8.7")),
        ),
    )
    waiting.start()
    subprocess.run(
        [
            "nsenter",
            "-t",
            str(fresh_netns),
            "-n",
            "ip",
            "addr",
            "add",
            "10.9.8.7/32",
            "dev",
            "lo",
        ],
        check=True,
    )
    waiting.join(10)
    for fd in held:
        os.close(fd)
    with made[0] as sock:
        assert sock.getsockname()[0] == "10.9.8.7"


def test_an_address_that_never_comes_fails_after_the_wait(fresh_netns):
    failed: list[OSError] = []

    def work() -> None:
        try:
            _listener(0, wait=0.3, host="10.9.8.7")
        except OSError as exc:
            failed.append(exc)

    started = time.monotonic()
    _in_netns(fresh_netns, work)
    assert time.monotonic() - started >= 0.3  # it waited for news first
    assert [e.errno for e in failed] == [errno.EADDRNOTAVAIL]
