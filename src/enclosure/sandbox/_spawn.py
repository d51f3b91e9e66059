"""Long-lived sandboxed processes that talk over their pipes (an MCP server).

``exec`` runs a command to completion; ``spawn`` starts one that stays, confined
exactly as ``exec`` confines (namespaces, seccomp, cgroup, rlimits), and hands
back its stdin and stdout. Caps that belong to a finished command do not apply
(``wall_time``, the stdout cap: the owner bounds each message and each request);
every other cap does, and a watcher thread enforces the tree's CPU time and the
quarantine's disk use as ``exec`` does. Its stderr is drained and only a tail
kept, so a chatty server can never block on a full pipe.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from enclosure.sandbox._base import LimitName
    from enclosure.sandbox._process import Active, ProcessSandbox

__all__ = ["STDERR_TAIL", "Spawned"]

STDERR_TAIL = 4096
"""Bytes of a spawned process's stderr kept for error messages."""
_CHECK_S = 0.25


class Spawned:
    """A process running in a sandbox until it exits or is killed; thread-safe.

    ``stdin`` and ``stdout`` are the raw pipe descriptors (the caller reads and
    writes them, usually non-blocking). ``close`` kills the whole tree, waits for
    it and gives back what the sandbox lent it; call it exactly when done.
    """

    def __init__(
        self,
        sandbox: ProcessSandbox,
        active: Active,
        argv: Sequence[str],
        on_close: Callable[[Spawned], None] | None = None,
    ) -> None:
        proc = active.proc
        assert proc.stdin is not None  # noqa: S101 -- spawn asks for pipes
        assert proc.stdout is not None  # noqa: S101
        assert proc.stderr is not None  # noqa: S101
        self._sandbox = sandbox
        self._active = active
        self.argv = tuple(argv)
        self.pid = proc.pid
        self.stdin = proc.stdin.fileno()
        self.stdout = proc.stdout.fileno()
        self.started = time.monotonic()
        self.duration_s: float | None = None
        self.on_close = on_close
        """Called once with this process when ``close`` has released it."""
        self._tail = bytearray()
        self._lock = threading.Lock()
        self._closed = False
        self.exited = threading.Event()
        """Set once the process has exited (for whatever reason)."""
        self._watcher = threading.Thread(
            target=self._watch, name=f"sandbox-spawned-{self.pid}", daemon=True
        )
        self._watcher.start()

    def __repr__(self) -> str:
        return f"<Spawned pid={self.pid} {self.argv[:1]} rc={self.returncode}>"

    @property
    def returncode(self) -> int | None:
        """Its exit status once it has exited (128+N for signal N), else None."""
        code = self._active.proc.poll()
        if code is not None and code < 0:
            return 128 - code
        return code

    @property
    def limit(self) -> LimitName | None:
        """The cap (or ``killed``) that stopped it, if one did."""
        return self._active.limit

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until it exits; its ``returncode``, or None on timeout."""
        try:
            self._active.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stderr_tail(self) -> str:
        """The last bytes it wrote to stderr, decoded."""
        with self._lock:
            return self._tail.decode("utf-8", "replace")

    def kill(self, limit: LimitName = "killed") -> None:
        """Kill the whole tree now; ``close`` still has to be called."""
        self._active.stop(limit)

    def close(self) -> None:
        """Kill what is left, reap it and release its cgroup; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        active, sandbox = self._active, self._sandbox
        if active.proc.poll() is None:
            active.stop("killed")
        active.proc.wait()
        self._watcher.join(timeout=5)
        if self.duration_s is None:
            self.duration_s = time.monotonic() - self.started
        for pipe in (active.proc.stdin, active.proc.stdout, active.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        sandbox.forget(active)
        if self.on_close is not None:
            self.on_close(self)

    def _watch(self) -> None:
        """Drain stderr, check the tree's usage, notice the exit."""
        proc, active = self._active.proc, self._active
        assert proc.stderr is not None  # noqa: S101
        sel = selectors.DefaultSelector()
        sel.register(proc.stderr, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in sel.select(_CHECK_S):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        break
                    with self._lock:
                        self._tail += chunk
                        del self._tail[:-STDERR_TAIL]
                if proc.poll() is not None:
                    self._drain(sel)
                    break
                self._sandbox.check_usage(active)
        except (OSError, ValueError):  # the pipe was closed under us by close()
            pass
        finally:
            sel.close()
            self.duration_s = time.monotonic() - self.started
            self.exited.set()

    def _drain(self, sel: selectors.BaseSelector) -> None:
        """Keep what an exited process still had in the pipe (its last words)."""
        while sel.get_map():
            ready = sel.select(0)
            if not ready:
                return
            for key, _ in ready:
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                with self._lock:
                    self._tail += chunk
                    del self._tail[:-STDERR_TAIL]
