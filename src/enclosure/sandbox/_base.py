"""The abstract sandbox: run a command, read and write files, clean up.

A backend implements four operations. ``exec`` never raises for what the command
did (a non-zero exit, a limit that fired, a wall-time kill): all of that is in the
``ExecResult``. It raises only when the sandbox itself cannot work, and then it
refuses (``SandboxUnavailable``) rather than run the command unguarded.
``read_file`` and ``write_file`` see exactly what the sandboxed program sees, so a
symlink planted inside cannot make them touch the host.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Self, TypeAlias

from enclosure.errors import SandboxUnavailable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from enclosure.manifest import ComputeSpec
    from enclosure.sandbox._spawn import Spawned

__all__ = ["ExecResult", "LimitName", "Mount", "Sandbox", "SandboxSpec", "StartHook"]

StartHook: TypeAlias = Callable[[int], Callable[[], None] | None]
"""Called with the pid of a sandbox's first process before the command runs."""

LimitName = Literal[
    "wall_time", "cpu", "memory", "processes", "output", "file_size", "disk", "killed"
]
"""Which cap stopped a command; ``killed`` means the kill switch or ``kill()``."""


@dataclass(frozen=True, slots=True)
class Mount:
    """A host path seen inside the sandbox at ``dest``."""

    host: Path
    dest: str
    writable: bool = False


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """Everything a backend needs to build one sandbox; derived from the manifest."""

    compute: ComputeSpec
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    """The whole environment inside; nothing from the host leaks in besides this."""
    cwd: str = "/tmp"  # noqa: S108 -- the sandbox's own private /tmp
    watch_disk: tuple[Path, ...] = ()
    """Host directories whose total size counts against ``compute.disk``."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a sandboxed command did."""

    argv: tuple[str, ...]
    exit_code: int
    """The command's status; 128+N when signal N ended it (137 when a cap or the
    kill switch killed it)."""
    stdout: bytes
    stderr: bytes
    duration_s: float
    limit: LimitName | None = None
    """The cap that stopped the command, if one did."""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    cpu_s: float | None = None
    """CPU seconds used by the whole tree, where the backend can measure it."""

    @property
    def ok(self) -> bool:
        """True when the command exited 0 and no limit fired."""
        return self.exit_code == 0 and self.limit is None

    @property
    def output_sha256(self) -> str:
        """SHA-256 over stdout then stderr, each length-prefixed."""
        h = hashlib.sha256()
        for part in (self.stdout, self.stderr):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.hexdigest()

    def text(self, *, stream: Literal["stdout", "stderr"] = "stdout") -> str:
        """Decoded output, invalid UTF-8 replaced."""
        data = self.stdout if stream == "stdout" else self.stderr
        return data.decode("utf-8", errors="replace")

    def summary(self) -> dict[str, object]:
        """The receipt fields the decision log keeps (no output, only its digest)."""
        return {
            "exit_code": self.exit_code,
            "limit": self.limit,
            "duration_ms": round(self.duration_s * 1000, 3),
            "cpu_s": self.cpu_s,
            "stdout_bytes": len(self.stdout),
            "stderr_bytes": len(self.stderr),
            "truncated": self.stdout_truncated or self.stderr_truncated,
            "output_sha256": self.output_sha256,
        }


class Sandbox(ABC):
    """One isolated environment; see ``self_check`` for the behaviour it must have."""

    name: str = "abstract"

    @abstractmethod
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
        """Run ``cmd`` to completion inside the sandbox.

        Args:
            cmd: argv; the first element is looked up on the sandbox's ``PATH``.
            input: bytes for stdin (stdin is empty otherwise).
            cwd: working directory inside the sandbox.
            env: variables added to the spec's environment for this command.
            timeout: wall seconds, at most the manifest's ``wall_time``.
            on_start: called with the host pid of the sandbox's first process
                once its namespaces exist and before the command runs (the
                egress proxy attaches to its network namespace here); what it
                returns is called when the command is over. If it raises,
                nothing runs. Backends without namespaces never call it.

        Raises:
            SandboxUnavailable: the sandbox cannot be set up; nothing ran.
        """

    async def exec(
        self,
        cmd: Sequence[str],
        *,
        input: bytes | None = None,  # noqa: A002 -- subprocess's own name
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- a cap passed on, not a wait
        on_start: StartHook | None = None,
    ) -> ExecResult:
        """``exec_sync`` in a worker thread; cancelling it kills the command."""
        import anyio  # noqa: PLC0415 -- only async callers pay for it

        def work() -> ExecResult:
            # Passed only when given: a backend without namespaces need not know it.
            extra = {} if on_start is None else {"on_start": on_start}
            return self.exec_sync(
                cmd, input=input, cwd=cwd, env=env, timeout=timeout, **extra
            )

        try:
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            self.kill()
            raise

    def spawn(
        self,
        cmd: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        on_start: StartHook | None = None,
    ) -> Spawned:
        """Start ``cmd`` inside and leave it running, its stdin and stdout piped.

        Confined as ``exec_sync`` confines, with every cap except ``wall_time``
        and the stdout cap (see ``Spawned``); ``kill()`` stops it too.

        Raises:
            SandboxUnavailable: the sandbox cannot be set up, or this backend
                cannot keep processes running; nothing runs.
        """
        del cmd, cwd, env, on_start
        msg = f"the {self.name} sandbox cannot run long-lived processes"
        raise SandboxUnavailable(msg)

    @abstractmethod
    def kill(self) -> None:
        """Stop every running command at once, whole process trees; thread-safe.

        Commands started afterwards run normally: the kill switch decides whether
        more calls come.
        """

    async def read_file(self, path: str) -> bytes:
        """Read ``path`` as the sandboxed program would.

        Raises:
            FileNotFoundError: no such file inside.
            PermissionError: the sandbox may not read it.
            IsADirectoryError: it is a directory.
        """
        result = await self.exec(["cat", "--", path])
        if result.exit_code != 0:
            raise _file_error(result, path)
        return result.stdout

    async def write_file(self, path: str, data: bytes) -> None:
        """Write ``path`` as the sandboxed program would (only writable places work).

        Raises:
            PermissionError: the path is read-only or outside the writable places.
            FileNotFoundError: its folder does not exist.
            IsADirectoryError: it is a directory.
        """
        result = await self.exec(["sh", "-c", 'cat > "$1"', "sh", path], input=data)
        if result.exit_code != 0:
            raise _file_error(result, path)

    def cleanup(self) -> None:  # noqa: B027 -- a harmless default, like inspect_ai's
        """Release what the sandbox holds (cgroups, state); idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def _file_error(result: ExecResult, path: str) -> OSError:
    err = result.text(stream="stderr")
    low = err.lower()
    if "no such file" in low or "nonexistent" in low:
        return FileNotFoundError(2, "no such file in the sandbox", path)
    if "is a directory" in low:
        return IsADirectoryError(21, "is a directory", path)
    if "permission denied" in low or "read-only" in low:
        return PermissionError(13, "not writable in the sandbox", path)
    return OSError(5, err.strip()[:200] or f"exit {result.exit_code}", path)
