"""Spare launchers: a sandbox's processes are born in their cgroup, not moved there.

Moving a running process into a cgroup (a write to ``cgroup.procs``) takes the
kernel's ``cgroup_threadgroup_rwsem`` for writing, and since Linux 6.0 that waits
for an RCU grace period unless the hierarchy is mounted ``favordynmods``: 5-30 ms
when moves are seconds apart, as an agent's commands are. A process forked by a
process already in the group is born there and pays nothing, but cgroup v1 has no
``CLONE_INTO_CGROUP``. So a sandbox keeps one *spare*: a ``bash`` started ahead
of time, moved into a fresh group off the critical path, and blocked reading a
script from a pipe. To run a command the backend writes one ``exec …`` line into
the pipe; the shell replaces itself with the real launcher (bwrap), which keeps
its pid, its group and its pipes, so everything it forks is born capped.

Spares are forked and torn down by one long-lived thread. bwrap's
``--die-with-parent`` is ``PR_SET_PDEATHSIG``, which fires when the *thread* that
forked the process exits: a spare forked by a short-lived worker thread would be
killed with that thread, in the middle of a later command.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import signal
import subprocess
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from enclosure.sandbox._cgroup import Group

__all__ = ["SHELL", "Spare", "scriptable", "shell_exec_line"]

SHELL = "/bin/bash"
"""bash, not ``/bin/sh``: dash cannot close descriptors above 9 (``22<&-``)."""
READY_TIMEOUT_S = 2.0
"""How long a command waits for its spare before starting the slow way."""


class _Forker:
    """One daemon thread that runs every spare's fork and teardown, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="sandbox-forker", daemon=True
                )
                self._thread.start()
        self._queue.put(job)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            with contextlib.suppress(Exception):  # one bad job must not stop the rest
                job()


_FORKER = _Forker()


class Spare:
    """A shell in its own cgroup, waiting for the ``exec`` line of one command.

    Args:
        child_fds: descriptors the launcher needs (the script pipe's read end is
            added here); they are passed to the shell under the same numbers and
            closed in this process once it is forked.
        parent_fds: this process's ends (the caller reads or writes them); closed
            by ``discard``.
        acquire: gives the group to move the shell into (None: no cgroups).
        release: takes the group back when the spare is discarded.
        uid: the host uid (and gid) to start the shell as; None: stay who we are.
    """

    def __init__(
        self,
        *,
        child_fds: Sequence[int],
        parent_fds: Sequence[int],
        acquire: Callable[[], Group | None],
        release: Callable[[Group | None], None],
        uid: int | None,
    ) -> None:
        self.script_r, self.script_w = os.pipe()
        if uid is not None:  # the shell reopens it through /proc as that uid
            os.fchown(self.script_r, uid, uid)
        self.child_fds = tuple(child_fds)
        """The launcher's descriptors, by their numbers in the child."""
        self._child_fds = (*child_fds, self.script_r)
        self._script_path = f"/proc/self/fd/{self.script_r}"
        self.parent_fds = tuple(parent_fds)
        self._acquire = acquire
        self._release = release
        self._uid = uid
        self.proc: subprocess.Popen[bytes] | None = None
        self.group: Group | None = None
        self.error: str | None = None
        self._ready = threading.Event()
        self._cancelled = False
        _FORKER.submit(self._fork)

    def wait(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """Block until the shell runs in its group; False when it never will."""
        ready = self._ready.wait(timeout)
        return ready and self.error is None and self.proc is not None

    def launch(self, line: bytes) -> None:
        """Hand the shell its ``exec`` line (once).

        Raises:
            OSError: the shell is gone (it was killed); nothing was started.
        """
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self.script_w, view) :]
        finally:
            os.close(self.script_w)
            self.script_w = -1

    def discard(self, *, wait: bool = False) -> None:
        """Kill the shell, give back its group, close our ends (in the forker)."""
        done = threading.Event()

        def teardown() -> None:
            try:
                if self.proc is not None:
                    with contextlib.suppress(OSError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
                    for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                        if pipe is not None:
                            with contextlib.suppress(OSError):
                                pipe.close()
                if self.group is not None:
                    self._release(self.group)
                self._close_parent_fds()
            finally:
                done.set()

        self._cancelled = True
        _FORKER.submit(teardown)
        if wait:
            done.wait(READY_TIMEOUT_S * 5)

    def _close_parent_fds(self) -> None:
        for fd in (*self.parent_fds, self.script_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.script_w = -1

    def _fork(self) -> None:
        try:
            if self._cancelled:
                return
            group = self._acquire()
            try:
                proc = subprocess.Popen(  # noqa: S603 -- a fixed argv
                    [
                        SHELL,
                        "--norc",
                        "--noprofile",
                        "-c",
                        f". /proc/self/fd/{self.script_r}",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    pass_fds=self._child_fds,
                    start_new_session=True,
                    env={},
                    user=self._uid,
                    group=self._uid,
                    extra_groups=None if self._uid is None else [],
                )
            except OSError as exc:
                self._release(group)
                self.error = f"cannot start {SHELL}: {exc}"
                return
            self.proc, self.group = proc, group
            if group is not None:
                try:
                    group.add(proc.pid)
                except OSError as exc:
                    self.error = f"cannot move the launcher into its cgroup: {exc}"
        finally:
            for fd in self._child_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._ready.set()


def scriptable(cmd: Sequence[str], env: Mapping[str, str]) -> bool:
    """Whether ``cmd`` and ``env`` fit one shell line (no NUL, no ``=`` in names)."""
    if any("\0" in a for a in cmd):
        return False
    return not any("\0" in k or "=" in k or not k or "\0" in v for k, v in env.items())


def shell_exec_line(
    argv: Sequence[str], *, close: Sequence[int], null_stdin: bool
) -> bytes:
    """``exec -c ARGV…`` for the spare: empty environment, quoted words, fds shut."""
    words = [shlex.quote(a) for a in argv]
    words += [f"{fd}<&-" for fd in close]
    if null_stdin:
        words.append("</dev/null")
    return ("exec -c " + " ".join(words) + "\n").encode("utf-8", "surrogateescape")
