"""What every process-based backend shares: limits, watching, killing a tree.

A backend supplies ``_start`` (how to launch one command, confined); this class
runs it to completion: it feeds stdin, collects output up to the cap, enforces
wall time, tree CPU time and quarantine disk use, reads the cgroup counters to
say which limit fired, and kills the whole tree when one does or when ``kill()``
is called from another thread.
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import signal
import threading
import time
from abc import abstractmethod
from typing import TYPE_CHECKING

from enclosure.errors import SandboxUnavailable
from enclosure.sandbox._base import (
    ExecResult,
    LimitName,
    Sandbox,
    SandboxSpec,
    StartHook,
)
from enclosure.sandbox._cgroup import CgroupPool, Group
from enclosure.sandbox._spawn import Spawned

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from enclosure.sandbox._cgroup import Counters

__all__ = ["Active", "ProcessSandbox", "StartHook"]


class Active:
    """One running command, so ``kill()`` can reach it from another thread."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        group: Group | None,
        before: Counters | None = None,
    ) -> None:
        self.proc = proc
        self.group = group
        self.before = before
        """The group's counters just before the command was let go."""
        self.limit: LimitName | None = None
        self.child: int | None = None
        """The backend's inner process (bwrap's pid 1), when it reports one."""
        self.on_end: Callable[[], None] | None = None
        """What the ``on_start`` hook asked to run once the command is over."""
        self.started = False
        self.cpu_start_ns = before.cpu_ns if before is not None else 0
        self.wake_r, self.wake_w = os.pipe()

    def stop(self, limit: LimitName) -> None:
        if self.limit is None:
            self.limit = limit
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.group is not None:
            self.group.kill_all()
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"k")

    def close(self) -> None:
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class ProcessSandbox(Sandbox):
    """A sandbox that starts one confined process tree per command."""

    def __init__(self, spec: SandboxSpec) -> None:
        self.spec = spec
        self._pool = CgroupPool()
        self._active: set[Active] = set()
        self._lock = threading.Lock()
        self._running = threading.Condition(self._lock)
        self._closed = False
        self._kills = 0
        """``kill()`` calls so far: a command started meanwhile is killed too."""

    @property
    def cgroups(self) -> bool:
        """Whether tree-wide cgroup limits are in force (rlimits only otherwise)."""
        return self._pool.available

    @abstractmethod
    def _start(
        self,
        cmd: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str] | None,
        stdin: bytes | None,
        on_start: StartHook | None = None,
    ) -> Active:
        """Launch ``cmd`` confined, registered in ``self._active``.

        The backend takes its cgroup from ``_acquire_group`` and reads the
        group's counters (``Active.before``) before the command may run.

        Raises:
            SandboxUnavailable: it could not be launched confined; nothing runs
                and the group, if any, is back in the pool.
        """

    def _acquire_group(self, *, extra_processes: int = 0) -> Group | None:
        """A pooled cgroup with this spec's caps, or None without cgroups.

        ``extra_processes`` makes room for launcher processes the backend puts
        in the group besides the command's own tree.
        """
        c = self.spec.compute
        return self._pool.acquire(
            memory=c.memory, processes=c.processes + extra_processes
        )

    def _release_group(self, group: Group | None) -> None:
        if group is not None:
            group.kill_all()
            self._pool.release(group)

    def _kill_count(self) -> int:
        """How many times ``kill()`` ran; read before a command may start."""
        with self._lock:
            return self._kills

    def _register(self, active: Active, *, kills_before: int | None = None) -> None:
        """Make ``active`` reachable by ``kill()``.

        ``kills_before`` is ``_kill_count()`` from before the command could start:
        a backend whose command runs before it is registered passes it, and a
        ``kill()`` that came in between (it could not see the command, which was
        already running and may have shown it) kills it now.
        """
        with self._lock:
            self._active.add(active)
            self._running.notify_all()
            missed = kills_before is not None and self._kills != kills_before
        if missed:
            active.stop("killed")

    def _mark_started(self, active: Active) -> None:
        """The command itself now runs (setup is over)."""
        with self._lock:
            active.started = True
            self._running.notify_all()

    def wait_running(self, timeout: float) -> bool:
        """Block until some command has started; False on timeout (kill tests)."""
        with self._running:
            return self._running.wait_for(
                lambda: any(a.started for a in self._active), timeout
            )

    def _setup_problem(self, returncode: int, stderr: bytes) -> str | None:
        """Backend hook: the sandbox itself failed to start (not the command)."""
        del returncode, stderr
        return None

    def _reap(self, active: Active) -> None:
        """Backend hook: collect what the command left behind once it has exited."""
        del active

    def _abandon(self, active: Active) -> None:
        """Kill and forget a command that could not be started confined."""
        active.stop("killed")
        active.proc.wait()
        for pipe in (active.proc.stdin, active.proc.stdout, active.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.forget(active)

    def exec_sync(
        self,
        cmd: Sequence[str],
        *,
        input: bytes | None = None,  # noqa: A002 -- subprocess's own name
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_start: StartHook | None = None,
    ) -> ExecResult:
        """Run ``cmd`` inside; see ``Sandbox.exec_sync``."""
        self._check_usable(cmd, "exec")
        compute = self.spec.compute
        wall = min(timeout or compute.wall_time, compute.wall_time)
        started = time.monotonic()
        active = self._start(cmd, cwd=cwd, env=env, stdin=input, on_start=on_start)
        group, before = active.group, active.before
        try:
            stdout, stderr, truncated = self._watch(active, input, started + wall)
            returncode = active.proc.wait()
            if returncode < 0:  # a signal, as a shell would report it
                returncode = 128 - returncode
        finally:
            with self._lock:
                self._active.discard(active)
            active.close()
            if group is not None:
                after = group.counters()
            self._reap(active)
            self._release_group(group)
            if active.on_end is not None:
                active.on_end()
        problem = self._setup_problem(returncode, stderr)
        if problem and active.limit is None:
            raise SandboxUnavailable(problem)
        duration = time.monotonic() - started
        limit = active.limit
        cpu_s = None
        if group is not None and before is not None:
            cpu_s = (after.cpu_ns - before.cpu_ns) / 1e9
            limit = limit or _fired(before, after, returncode, cpu_s, compute.cpu)
        elif returncode == 128 + signal.SIGXCPU:
            limit = limit or "cpu"
        if limit is None and returncode == 128 + signal.SIGXFSZ:
            limit = "file_size"
        return ExecResult(
            argv=tuple(cmd),
            exit_code=returncode,
            stdout=stdout,
            stderr=stderr,
            duration_s=duration,
            limit=limit,
            stdout_truncated=truncated[0],
            stderr_truncated=truncated[1],
            cpu_s=cpu_s,
        )

    def _check_usable(self, cmd: Sequence[str], verb: str) -> None:
        """Raise unless this sandbox is open and ``cmd`` names something to run."""
        if self._closed:
            msg = "this sandbox was cleaned up; create a new one"
            raise SandboxUnavailable(msg)
        if not cmd:
            msg = f"{verb} needs a command"
            raise ValueError(msg)

    def spawn(
        self,
        cmd: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        on_start: StartHook | None = None,
    ) -> Spawned:
        """Start ``cmd`` inside and leave it running; see ``Sandbox.spawn``."""
        self._check_usable(cmd, "spawn")
        # stdin=b"": a pipe is made and kept open for the caller.
        active = self._start(cmd, cwd=cwd, env=env, stdin=b"", on_start=on_start)
        return Spawned(self, active, cmd)

    def forget(self, active: Active) -> None:
        """Release what a finished command held: its slot, pid 1, cgroup, network."""
        with self._lock:
            self._active.discard(active)
        active.close()
        self._reap(active)
        self._release_group(active.group)
        if active.on_end is not None:
            active.on_end()

    def check_usage(self, active: Active) -> None:
        """Stop ``active`` if its tree is over the CPU or the disk cap."""
        self._check_usage(active)

    def _rlimits(self) -> list[str]:
        """``prlimit`` run inside, before the command: rlimits for every process.

        Set from inside because the parent may lack CAP_SYS_RESOURCE over the
        sandbox's user namespace; lowered hard limits cannot be raised again
        without capabilities, which the sandbox does not have.
        """
        c = self.spec.compute
        cpu = math.ceil(c.cpu)
        argv = [
            "/usr/bin/prlimit",
            f"--cpu={cpu}:{cpu + 1}",
            f"--nofile={c.open_files}",
            f"--fsize={c.file_size}",
            "--core=0",
            f"--nproc={c.processes + 2}",
        ]
        if not self._pool.available:
            argv.append(f"--as={c.memory}")
        return [*argv, "--"]

    def _watch(
        self, active: Active, stdin: bytes | None, deadline: float
    ) -> tuple[bytes, bytes, tuple[bool, bool]]:
        proc = active.proc
        cap = self.spec.compute.output
        bufs = {"out": bytearray(), "err": bytearray()}
        truncated = {"out": False, "err": False}
        sel = selectors.DefaultSelector()
        assert proc.stdout is not None  # noqa: S101 -- PIPE was asked for
        assert proc.stderr is not None  # noqa: S101
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        sel.register(active.wake_r, selectors.EVENT_READ, "wake")
        if stdin is not None and proc.stdin is not None:
            _feed(proc.stdin, stdin)
        next_check = time.monotonic() + 0.05
        try:
            while len(sel.get_map()) > 1:
                now = time.monotonic()
                if now >= deadline:
                    active.stop("wall_time")
                    deadline = math.inf
                if now >= next_check:
                    self._check_usage(active)
                    next_check = now + 0.05
                wait = max(0.0, min(deadline, next_check) - now)
                for key, _ in sel.select(wait):
                    if key.data == "wake":
                        sel.unregister(key.fileobj)
                        continue
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    buf = bufs[key.data]
                    room = cap - len(buf)
                    buf += chunk[: max(room, 0)]
                    if len(chunk) > room:
                        truncated[key.data] = True
                        active.stop("output")
        finally:
            sel.close()
            proc.stdout.close()
            proc.stderr.close()
        return (
            bytes(bufs["out"]),
            bytes(bufs["err"]),
            (
                truncated["out"],
                truncated["err"],
            ),
        )

    def _check_usage(self, active: Active) -> None:
        c = self.spec.compute
        if active.group is not None:
            used_ns = active.group.cpu_ns() - active.cpu_start_ns
            if used_ns > c.cpu * 1e9:
                active.stop("cpu")
        if self.spec.watch_disk and _tree_size(self.spec.watch_disk) > c.disk:
            active.stop("disk")

    def kill(self) -> None:
        """Kill every running command of this sandbox, whole trees, at once."""
        with self._lock:
            self._kills += 1
            running = list(self._active)
        for active in running:
            active.stop("killed")

    def cleanup(self) -> None:
        """Kill what still runs and remove cgroups; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.kill()
        self._pool.close()
        self._release()

    def _release(self) -> None:
        """Backend-specific cleanup after every command is dead."""


def _feed(pipe: object, data: bytes) -> None:
    """Write stdin from a thread, so a child that does not read cannot block us."""

    def run() -> None:
        with contextlib.suppress(OSError):
            pipe.write(data)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            pipe.close()  # type: ignore[attr-defined]

    threading.Thread(target=run, daemon=True, name="sandbox-stdin").start()


def _fired(
    before: Counters, after: Counters, returncode: int, cpu_s: float, cpu_cap: float
) -> LimitName | None:
    if after.oom_kills > before.oom_kills:
        return "memory"
    if cpu_s > cpu_cap or returncode == 128 + signal.SIGXCPU:
        return "cpu"
    if after.fork_failures > before.fork_failures:
        return "processes"
    return None


def _tree_size(roots: tuple[Path, ...]) -> int:
    total = 0
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512  # noqa: PTH118
    return total
