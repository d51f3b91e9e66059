"""Cgroup limits for one sandboxed process tree: memory, process count, CPU time.

Cgroups cap the whole tree, where rlimits cap each process alone, and they tell
afterwards which limit fired (an OOM kill, a refused fork). Version 1 (a hierarchy
per controller, as on this project's CI machines) and a delegated version 2 subtree
are supported; without either the caller falls back to rlimits only.

Groups are reused: a finished group goes back to a pool and its counters are read
as differences, because creating and removing memory cgroups costs more than the
whole sandbox start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupPool", "Counters", "Group"]

_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True, slots=True)
class Counters:
    """Monotonic counters of one group; compare two readings."""

    cpu_ns: int
    oom_kills: int
    fork_failures: int


class Group:
    """One cgroup (v1: one directory per controller; v2: one directory)."""

    def __init__(self, dirs: dict[str, Path], version: int) -> None:
        self.dirs = dirs
        self.version = version

    def set_limits(self, *, memory: int, processes: int) -> None:
        """Write the caps; raises OSError when the kernel refuses them."""
        if self.version == 1:
            mem = self.dirs["memory"]
            _write(mem / "memory.limit_in_bytes", str(memory))
            swap = mem / "memory.memsw.limit_in_bytes"
            if swap.exists():
                _write(swap, str(memory))
            _write(self.dirs["pids"] / "pids.max", str(processes))
        else:
            d = self.dirs["unified"]
            _write(d / "memory.max", str(memory))
            with contextlib.suppress(OSError):
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(processes))

    def add(self, pid: int) -> None:
        """Move ``pid`` (and only it; children forked later follow) into the group."""
        for d in self.dirs.values():
            _write(d / "cgroup.procs", str(pid))

    def cpu_ns(self) -> int:
        """CPU time used by the group so far (one file read: the watcher's poll)."""
        if self.version == 1:
            return int(_read_small(self.dirs["cpuacct"] / "cpuacct.usage") or 0)
        stat = _read_small(self.dirs["unified"] / "cpu.stat")
        return _field(stat, "usage_usec") * 1000

    def counters(self) -> Counters:
        """Read CPU, OOM-kill and refused-fork counters."""
        if self.version == 1:
            cpu = int(_read_small(self.dirs["cpuacct"] / "cpuacct.usage") or 0)
            oom_control = _read_small(self.dirs["memory"] / "memory.oom_control")
            oom = _field(oom_control, "oom_kill")
            forks = _field(_read_small(self.dirs["pids"] / "pids.events"), "max")
        else:
            d = self.dirs["unified"]
            cpu = _field(_read_small(d / "cpu.stat"), "usage_usec") * 1000
            oom = _field(_read_small(d / "memory.events"), "oom_kill")
            forks = _field(_read_small(d / "pids.events"), "max")
        return Counters(cpu, oom, forks)

    def pids(self) -> list[int]:
        """Processes still in the group."""
        d = self.dirs["pids"] if self.version == 1 else self.dirs["unified"]
        text = _read(d / "cgroup.procs")
        return [int(p) for p in text.split()]

    def kill_all(self) -> None:
        """SIGKILL every process in the group (v2: atomically via cgroup.kill)."""
        if self.version == 2:  # noqa: PLR2004 -- the cgroup version
            with contextlib.suppress(OSError):
                _write(self.dirs["unified"] / "cgroup.kill", "1")
                return
        for _ in range(8):  # a forking tree may add pids while we kill
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Remove the group's directories (after its processes are gone)."""
        for d in self.dirs.values():
            with contextlib.suppress(OSError):
                d.rmdir()


class CgroupPool:
    """Creates groups under ``enclosure/`` and hands them out for reuse."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[Group] = []
        self._all: list[Group] = []
        self._parents = _find_parents()

    @property
    def available(self) -> bool:
        """Whether this machine lets us create cgroups with the controllers needed."""
        return self._parents is not None

    def acquire(self, *, memory: int, processes: int) -> Group | None:
        """A group with these caps, or None when cgroups are not available."""
        if self._parents is None:
            return None
        with self._lock:
            group = self._idle.pop() if self._idle else None
        if group is None:
            group = self._create()
            if group is None:
                return None
        try:
            group.set_limits(memory=memory, processes=processes)
        except OSError:
            group.remove()
            return None
        return group

    def release(self, group: Group) -> None:
        """Return a group for reuse once everything in it has been SIGKILLed.

        Right after bwrap exits, the pid namespace's last processes are often
        still being reaped; they are killed already (SIGKILL cannot be caught),
        so the group is reused rather than dropped and recreated each time.
        """
        group.kill_all()
        with self._lock:
            self._idle.append(group)

    def close(self) -> None:
        """Remove every group this pool created."""
        with self._lock:
            groups, self._all, self._idle = self._all, [], []
        for group in groups:
            group.kill_all()
            group.remove()

    def _create(self) -> Group | None:
        assert self._parents is not None  # noqa: S101 -- checked by the caller
        version, parents = self._parents
        name = f"sbx-{os.getpid()}-{secrets.token_hex(4)}"
        dirs: dict[str, Path] = {}
        try:
            for controller, parent in parents.items():
                d = parent / name
                d.mkdir()
                dirs[controller] = d
        except OSError:
            Group(dirs, version).remove()
            return None
        group = Group(dirs, version)
        with self._lock:
            self._all.append(group)
        return group


def _find_parents() -> tuple[int, dict[str, Path]] | None:
    if os.environ.get("ENCLOSURE_CGROUPS", "").lower() in ("0", "off", "no"):
        return None
    v1 = {c: _ROOT / c for c in ("memory", "pids", "cpuacct")}
    if all((d / "cgroup.procs").exists() for d in v1.values()):
        parents = {c: d / "enclosure" for c, d in v1.items()}
        if _ensure_dirs(parents.values()):
            return 1, parents
        return None
    if (_ROOT / "cgroup.controllers").exists():
        return _find_v2()
    return None


def _find_v2() -> tuple[int, dict[str, Path]] | None:
    # Our own cgroup's parent must delegate memory and pids to its children.
    try:
        line = (Path("/proc/self/cgroup").read_text(encoding="utf-8")).splitlines()[0]
    except (OSError, IndexError):
        return None
    own = _ROOT / line.partition("::")[2].lstrip("/")
    parent = own / "enclosure"
    try:
        parent.mkdir(exist_ok=True)
        _write(parent / "cgroup.subtree_control", "+memory +pids +cpu")
    except OSError:
        return None
    return 2, {"unified": parent}


def _ensure_dirs(dirs: object) -> bool:
    try:
        for d in dirs:  # type: ignore[attr-defined]  # an iterable of Path
            d.mkdir(exist_ok=True)
    except OSError:
        return False
    return True


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _read_small(path: Path) -> str:
    """One ``os.read`` of a short counter file: a third of ``_read``'s cost.

    Only for files of a few hundred bytes (counters, stats), on the command's
    path; ``cgroup.procs`` goes through ``_read``.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return ""
    try:
        return os.read(fd, 65536).decode("ascii", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _field(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value or 0)
    return 0
