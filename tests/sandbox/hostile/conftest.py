# ruff: noqa: S108 -- /tmp, /var/tmp and /dev/shm are the host folders watched here
"""Fixtures for the hostile suite: a host worth attacking, and checks from outside.

``world`` (once per session) sets up what an escaped program would go for:
secrets in this process's environment, in a world-readable folder under
/var/tmp, in /root, in a SysV segment and in another process's environment (the
holder, running as the sandbox's own host uid, so only the pid namespace hides
it); TCP and UDP listeners on every host address, Unix listeners on an abstract
address and on a path, and a pty.

``hostile`` runs one program from ``programs/`` in a fresh sandbox, and
``assert_contained`` then looks at the host, never at what the program said:
no secret in the output, no process of the sandbox left, no file named after
the run's marker anywhere it could have landed, the read-only input and the
sentinel untouched, the listeners silent, the holder alive and untraced, and the
mounts, routes, hostname, SysV IPC, key ring, kernel log and global sysctls as
they were. A sysctl found changed is put back before the test fails.

Every test here is marked ``sandbox``; ``pytest_collection_modifyitems`` skips
them when bubblewrap is missing or cannot create namespaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import ipaddress
import itertools
import json
import os
import platform
import secrets
import select
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from enclosure.errors import SandboxUnavailable
from enclosure.manifest import ComputeSpec
from enclosure.sandbox import BwrapSandbox, Mount, SandboxSpec, find_bwrap

if TYPE_CHECKING:
    from collections.abc import Iterator

    from enclosure.sandbox import ExecResult

PROGRAMS = Path(__file__).parent / "programs"
MIB = 1024 * 1024
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
"""The whole environment a hostile program is given."""
CAPS: dict[str, Any] = {
    "wall_time": 5.0,
    "cpu": 3.0,
    "memory": 256 * MIB,
    "processes": 32,
    "open_files": 64,
    "file_size": 8 * MIB,
    "output": 256 * 1024,
    "tmp_size": 16 * MIB,
    "disk": 16 * MIB,
}
"""Defaults for every run; a case overrides the cap it attacks."""
SYSCTLS = (
    "kernel/core_pattern",
    "kernel/panic",
    "kernel/randomize_va_space",
    "kernel/ctrl-alt-del",
    "kernel/hostname",
    "kernel/domainname",
    "kernel/sysrq",
    "kernel/modprobe",
    "vm/swappiness",
    "user/max_user_namespaces",
    "net/ipv4/ip_forward",
)
"""Global settings a program with write access to /proc/sys could change."""
# Places a program names its files after the marker when it tries to write there.
MARKER_FOLDERS = (
    "/",
    "/usr",
    "/usr/bin",
    "/etc",
    "/var",
    "/run",
    "/bin",
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/root",
)
GRACE_S = 2.0
"""How long a sandbox process may take to finish dying after exec returns."""


# --- skipping -------------------------------------------------------------------------


@functools.cache
def sandbox_unavailable() -> str | None:
    """Why bubblewrap sandboxes cannot run here, or None when they can."""
    if platform.machine() != "x86_64":
        return "the hostile programs use x86_64 system call numbers"
    try:
        find_bwrap()
        BwrapSandbox(SandboxSpec(ComputeSpec())).cleanup()  # probes namespaces
    except SandboxUnavailable as exc:
        return str(exc)
    return None


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    marked = [item for item in items if item.get_closest_marker("sandbox")]
    if marked and (why := sandbox_unavailable()):
        skip = pytest.mark.skip(reason=f"sandbox unavailable: {why}")
        for item in marked:
            item.add_marker(skip)


# --- the host world -------------------------------------------------------------------


class Listeners:
    """Host sockets an escaped program would reach; none may ever be contacted."""

    def __init__(self, folder: Path, tag: str) -> None:
        self.abstract = f"enclosure-hostile-{tag}"
        self.unix_path = folder / "sock"
        self.tcp = _dual_stack(socket.SOCK_STREAM)
        self.udp = _dual_stack(socket.SOCK_DGRAM)
        self.tcp.listen(16)
        self.tcp_port = self.tcp.getsockname()[1]
        self.udp_port = self.udp.getsockname()[1]
        self.abstract_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract_sock.bind("\0" + self.abstract)
        self.abstract_sock.listen(16)
        self.path_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.path_sock.bind(str(self.unix_path))
        self.unix_path.chmod(0o777)
        self.path_sock.listen(16)
        self.all = (self.tcp, self.udp, self.abstract_sock, self.path_sock)
        for sock in self.all:
            sock.setblocking(False)  # noqa: FBT003 -- the socket API's own flag

    def contacts(self) -> list[str]:
        """Everything that reached a listener since the last call (drained)."""
        found: list[str] = []
        for sock in (self.tcp, self.abstract_sock, self.path_sock):
            with contextlib.suppress(BlockingIOError):
                while True:
                    conn, peer = sock.accept()
                    conn.close()
                    found.append(f"{sock.getsockname()!r} accepted {peer!r}")
        with contextlib.suppress(BlockingIOError):
            while True:
                data, peer = self.udp.recvfrom(65536)
                found.append(f"udp {peer!r} sent {data[:60]!r}")
        return found

    def close(self) -> None:
        for sock in self.all:
            sock.close()


def _dual_stack(kind: socket.SocketKind) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_INET6, kind)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0))
    except OSError:
        sock = socket.socket(socket.AF_INET, kind)
        sock.bind(("0.0.0.0", 0))  # noqa: S104 -- every host address is the bait
    return sock


def host_addresses() -> list[str]:
    """Loopback and every global address of this host, v4 and v6."""
    found = {"127.0.0.1", "::1"}
    lines = Path("/proc/net/fib_trie").read_text(encoding="utf-8").splitlines()
    for previous, line in itertools.pairwise(lines):
        if "/32 host LOCAL" in line:
            found.add(previous.split()[-1])
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if fields[3] == "00":  # global scope
                found.add(str(ipaddress.IPv6Address(int(fields[0], 16))))
    return sorted(found)


def resolvers() -> list[str]:
    with contextlib.suppress(OSError):
        text = Path("/etc/resolv.conf").read_text(encoding="utf-8")
        return [
            line.split()[1]
            for line in text.splitlines()
            if line.startswith("nameserver") and len(line.split()) > 1
        ]
    return []


class SharedMemory:
    """A SysV segment holding a secret, readable by anyone who can name its key."""

    IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0

    def __init__(self, secret: bytes) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        self.libc = libc
        self.key = secrets.randbelow(1 << 30) + 1
        flags = self.IPC_CREAT | self.IPC_EXCL | 0o666
        self.id = libc.shmget(self.key, 4096, flags)
        if self.id < 0:
            raise OSError(ctypes.get_errno(), "shmget")
        address = libc.shmat(self.id, None, 0)
        ctypes.memmove(address, secret, len(secret))
        libc.shmdt(ctypes.c_void_p(address))

    def remove(self) -> None:
        self.libc.shmctl(self.id, self.IPC_RMID, None)


@dataclass
class World:
    """The host a hostile program aims at; its ``ctx`` is what the program is told."""

    core: str
    """In every secret; must never appear in any output."""
    folder: Path
    input: Path
    runs: Path
    sentinel: Path
    sandbox_uid: int
    holder: subprocess.Popen[bytes]
    listeners: Listeners
    pty: tuple[int, int]
    shm: SharedMemory
    ctx: dict[str, Any]
    leaks: tuple[bytes, ...]
    """Host values besides the core that must not appear in output."""
    baseline: dict[str, str] = field(default_factory=dict)
    late_exits: list[str] = field(default_factory=list)


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _host_leaks() -> tuple[bytes, ...]:
    """Host values an escaped read would print: password hashes, pid 1's env."""
    found: list[bytes] = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/shadow").read_text(encoding="utf-8").splitlines():
            hashed = line.split(":")[1] if line.count(":") > 1 else ""
            if len(hashed) > 3:
                found.append(hashed.encode())
    ordinary = {"PATH", "HOME", "TERM", "LANG", "PWD", "SHLVL", "USER", "HOSTNAME"}
    with contextlib.suppress(OSError):
        for item in Path("/proc/1/environ").read_bytes().split(b"\0"):
            name, _, value = item.partition(b"=")
            if name.decode(errors="replace") not in ordinary and len(value) >= 8:
                found.append(value)
    return tuple(found)


def _sandbox_host_uid() -> int:
    probe = BwrapSandbox(SandboxSpec(ComputeSpec()))
    try:
        return probe.uid if probe.uid is not None else os.geteuid()
    finally:
        probe.cleanup()


def _plant_bait(core: str) -> Path:
    """World-readable secrets in a world-readable folder: only the mounts hide them."""
    folder = Path(tempfile.mkdtemp(prefix="enclosure-hostile-", dir="/var/tmp"))
    folder.chmod(0o755)
    _write(folder / "secret.txt", f"file-{core}\n", 0o644)
    _write(folder / "home/.ssh/id_ed25519", f"key-{core}\n", 0o644)
    _write(folder / "home/.aws/credentials", f"aws-{core}\n", 0o644)
    _write(folder / "enclosure.db", f"SQLite format 3\0decision-log-{core}", 0o644)
    _write(folder / "sentinel.txt", "sentinel: nobody may change this\n", 0o666)
    (folder / "home").chmod(0o755)
    return folder


def _make_input(runs: Path) -> Path:
    inputs = runs / "input"
    _write(inputs / "sentinel.txt", "read-only input\n", 0o644)
    _write(inputs / "nested/data.txt", "more input\n", 0o644)
    inputs.chmod(0o755)
    (inputs / "nested").chmod(0o755)
    return inputs


def _start_holder(uid: int, marker: str, core: str) -> subprocess.Popen[bytes]:
    """Another process with a secret in its environment, blocked on stdin."""
    argv = ["/usr/bin/python3", "-c", "import sys; sys.stdin.buffer.read()", marker]
    secret_env = {"HOLDER_SECRET": f"holder-{core}"}
    if uid == os.geteuid():
        return subprocess.Popen(
            argv, stdin=subprocess.PIPE, env=secret_env, start_new_session=True
        )
    # The sandbox's own host uid, so that only the pid namespace hides it.
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        env=secret_env,
        start_new_session=True,
        user=uid,
        group=uid,
        extra_groups=[],
    )


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    if sandbox_unavailable():
        pytest.skip("sandbox unavailable")
    tag = secrets.token_hex(6)
    core = secrets.token_hex(16)
    folder = _plant_bait(core)
    sentinel = folder / "sentinel.txt"
    root_secret = Path("/root") / f".enclosure-hostile-{tag}"
    runs = Path(tempfile.mkdtemp(prefix="enclosure-hostile-runs-"))
    runs.chmod(0o755)
    inputs = _make_input(runs)
    uid = _sandbox_host_uid()
    holder_marker = f"holder-{tag}"
    holder = _start_holder(uid, holder_marker, core)
    listeners = Listeners(folder, tag)
    main, sub = os.openpty()
    os.set_blocking(main, False)
    os.set_blocking(sub, False)
    shm = SharedMemory(f"shm-{core}".encode())
    ctx = {
        "root_secret": str(root_secret),
        "secret_file": str(folder / "secret.txt"),
        "world": str(folder),
        "home": str(folder / "home"),
        "host_home": str(Path("~").expanduser()),
        "decision_log": str(folder / "enclosure.db"),
        "workspace_log": str(Path.cwd() / ".enclosure" / "enclosure.db"),
        "sentinel": str(sentinel),
        "holder_pid": holder.pid,
        "holder_marker": holder_marker,
        "test_pid": os.getpid(),
        "tcp_port": listeners.tcp_port,
        "udp_port": listeners.udp_port,
        "host_ips": host_addresses(),
        "resolvers": resolvers(),
        "abstract": listeners.abstract,
        "unix_path": str(listeners.unix_path),
        "pty": os.ttyname(sub),
        "shm_key": shm.key,
        "input": "/input",
        "quarantine": "/quarantine",
        "allowed_env": sorted([*ENV, "PWD", "LC_CTYPE"]),
    }
    bait = World(
        core=core,
        folder=folder,
        input=inputs,
        runs=runs,
        sentinel=sentinel,
        sandbox_uid=uid,
        holder=holder,
        listeners=listeners,
        pty=(main, sub),
        shm=shm,
        ctx=ctx,
        leaks=_host_leaks(),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_SECRET_ACCESS_KEY", f"aws-env-{core}")
        patch.setenv("ENCLOSURE_TEST_SECRET", f"env-{core}")
        try:
            _write(root_secret, f"root-{core}\n", 0o600)
            yield bait
        finally:
            holder.kill()
            holder.wait()
            if holder.stdin is not None:
                holder.stdin.close()
            listeners.close()
            shm.remove()
            os.close(main)
            os.close(sub)
            root_secret.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(runs, ignore_errors=True)


# --- one hostile run ------------------------------------------------------------------


@dataclass
class Run:
    """One program's run: what came back, and where to look afterwards."""

    program: str
    marker: str
    sandbox: BwrapSandbox
    argv: list[str]
    quarantine: Path
    result: ExecResult | None = None

    @property
    def verdict(self) -> dict[str, Any]:
        """The program's own last line; only ever checked after the outside."""
        assert self.result is not None
        lines = self.result.stdout.decode(errors="replace").strip().splitlines()
        if not lines or not lines[-1].startswith("{"):
            return {}
        verdict: dict[str, Any] = json.loads(lines[-1])
        return verdict

    @property
    def output(self) -> bytes:
        assert self.result is not None
        return self.result.stdout + self.result.stderr


class Hostile:
    """Runs hostile programs and checks the host from outside after each one."""

    def __init__(self, world: World, folder: Path) -> None:
        self.world = world
        self.folder = folder
        self.sandboxes: list[BwrapSandbox] = []

    def prepare(
        self,
        program: str,
        *,
        mounts: tuple[Mount, ...] = (),
        extra: dict[str, Any] | None = None,
        **caps: Any,
    ) -> Run:
        """A sandbox and argv for ``program``, with ``caps`` over the defaults."""
        marker = f"hostile-{secrets.token_hex(6)}"
        quarantine = self.folder / f"quarantine-{marker}"
        quarantine.mkdir(mode=0o755)
        spec = SandboxSpec(
            ComputeSpec(**{**CAPS, **caps}),
            mounts=(
                Mount(PROGRAMS, "/hostile"),
                Mount(self.world.input, "/input"),
                Mount(quarantine, "/quarantine", writable=True),
                *mounts,
            ),
            env=ENV,
            watch_disk=(quarantine,),
        )
        sandbox = BwrapSandbox(spec)
        self.sandboxes.append(sandbox)
        ctx = json.dumps({**self.world.ctx, **(extra or {}), "marker": marker})
        if program.endswith(".sh"):
            argv = ["/bin/sh", f"/hostile/{program}", ctx]
        else:
            argv = ["/usr/bin/python3", "-B", f"/hostile/{program}", ctx]
        self.world.baseline = snapshot(self.world)
        return Run(program, marker, sandbox, argv, quarantine)

    def execute(self, run: Run) -> Run:
        run.result = run.sandbox.exec_sync(run.argv)
        return run

    def run(self, program: str, **caps: Any) -> Run:
        return self.execute(self.prepare(program, **caps))

    def assert_contained(self, run: Run) -> None:
        """Check the host after ``run``; fail listing every problem found."""
        problems = [
            *survivors(run, self.world),
            *leaked(run, self.world),
            *changed(run, self.world),
        ]
        assert not problems, f"{run.program} was not contained:\n  " + "\n  ".join(
            problems
        )

    def expect_refused(self, program: str, **caps: Any) -> Run:
        """Run ``program``; the host must be untouched and every attempt refused."""
        run = self.run(program, **caps)
        self.assert_contained(run)
        assert run.result is not None
        assert run.result.limit is None, run.result
        assert run.result.exit_code == 0, run.output.decode(errors="replace")[-2000:]
        verdict = run.verdict
        assert verdict, run.output.decode(errors="replace")[-2000:]
        assert verdict["escaped"] is False, f"{program}: {verdict}"
        return run

    def close(self) -> None:
        for sandbox in self.sandboxes:
            sandbox.cleanup()


@pytest.fixture
def hostile(world: World) -> Iterator[Hostile]:
    folder = Path(tempfile.mkdtemp(prefix="case-", dir=world.runs))
    folder.chmod(0o755)
    runner = Hostile(world, folder)
    try:
        yield runner
    finally:
        runner.close()
        restore_sysctls(world)
        shutil.rmtree(folder, ignore_errors=True)


# --- looking from outside -------------------------------------------------------------


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _tree(root: Path) -> list[tuple[str, int, int, str]]:
    found = []
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found.append((str(path), info.st_mode, info.st_mtime_ns, digest))
    return found


def _sysv() -> str:
    return "".join(_read(f"/proc/sysvipc/{kind}") for kind in ("shm", "msg", "sem"))


def _sysv_objects(own_key: int) -> str:
    """The SysV objects this uid created on the host, by identity.

    Objects of other users (a PostgreSQL cluster's segments, owned by its own
    uid, attached, detached, created and removed as clusters come and go) are
    left out, and so are counters and times; an object a program created (as
    the uid that runs the sandbox), removed or changed the mode of still shows.
    The world's own segment is kept whole: a program that attached to it would
    change its counters.
    """
    lines = []
    for kind in ("shm", "msg", "sem"):
        header, *rows = _read(f"/proc/sysvipc/{kind}").splitlines() or [""]
        cuid = header.split().index("cuid") if "cuid" in header.split() else None
        for line in rows:
            cols = line.split()
            if not cols:
                continue
            if cols[0] != str(own_key):
                if cuid is not None and cols[cuid] != str(os.getuid()):
                    continue
                cols = cols[:3]
            lines.append(" ".join([kind, *cols]))
    return "\n".join(sorted(lines))


def _mounts() -> str:
    lines = _read("/proc/self/mountinfo").splitlines()
    return "\n".join(sorted(" ".join(line.split()[4:]) for line in lines))


def snapshot(world: World) -> dict[str, str]:
    """What a contained program cannot change, read just before it starts."""
    state = {
        "mounts": _mounts(),
        "routes": _read("/proc/net/route") + _read("/proc/net/ipv6_route"),
        "hostname": socket.gethostname(),
        "input": repr(_tree(world.input)),
        "sentinel": world.sentinel.read_text(encoding="utf-8"),
        "bwrap": hashlib.sha256(Path(find_bwrap()).read_bytes()).hexdigest(),
        "modules": _read("/proc/modules"),
        "sysv": _sysv_objects(world.shm.key),
    }
    for name in SYSCTLS:
        if Path(f"/proc/sys/{name}").exists():
            state[f"sysctl {name}"] = _read(f"/proc/sys/{name}")
    return state


def restore_sysctls(world: World) -> None:
    """Put back any global setting a run managed to change."""
    for key, value in world.baseline.items():
        name = key.removeprefix("sysctl ")
        if key.startswith("sysctl ") and _read(f"/proc/sys/{name}") != value:
            with contextlib.suppress(OSError):
                Path(f"/proc/sys/{name}").write_text(value, encoding="utf-8")


def _exited(pid: int, timeout: float) -> bool:
    """Wait (on a pidfd, not a clock) for ``pid`` to end; True when it has."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        return bool(poll.poll(timeout * 1000))
    finally:
        os.close(fd)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _group_pids(run: Run) -> set[int]:
    """Processes in the sandbox's cgroups, but the idle spare launcher's own."""
    spare = run.sandbox._spare
    idle = spare.group if spare is not None and spare.wait() else None
    return {
        int(pid)
        for group in run.sandbox._pool._all
        if group is not idle
        for folder in group.dirs.values()
        for pid in _read(folder / "cgroup.procs").split()
    }


def survivors(run: Run, world: World) -> list[str]:
    """Processes of the run still alive once the sandbox has had time to die."""
    problems = []
    for pid in sorted(_group_pids(run) | set(_processes_with(run.marker))):
        comm = _read(f"/proc/{pid}/comm").strip()
        world.late_exits.append(f"{run.program}: pid {pid} ({comm})")
        if not _exited(pid, GRACE_S):
            problems.append(f"pid {pid} ({comm}) survived")
    problems += [f"pid {pid} is still in a cgroup" for pid in _group_pids(run)]
    problems += [f"pid {pid} has the marker" for pid in _processes_with(run.marker)]
    return problems


def leaked(run: Run, world: World) -> list[str]:
    """Host secrets found in what the program printed."""
    output = run.output
    problems = []
    if (at := output.find(world.core.encode())) >= 0:
        context = output[max(0, at - 80) : at + 40]
        problems.append(f"a host secret is in the output: {context!r}")
    problems += [
        f"host value {value[:12]!r}... is in the output"
        for value in world.leaks
        if value in output
    ]
    return problems


def _kmsg_has(marker: str) -> bool:
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                return False
            except BrokenPipeError:  # records were overwritten while reading
                continue
            if marker.encode() in record:
                return True
    finally:
        os.close(fd)


def _files_left(run: Run, world: World) -> list[str]:
    problems = []
    for folder in (*MARKER_FOLDERS, str(world.folder), str(world.input)):
        with contextlib.suppress(OSError):
            hits = [p for p in Path(folder).iterdir() if run.marker in p.name]
            problems += [f"{p} appeared on the host" for p in hits]
    if world.sandbox_uid != os.geteuid():
        for folder in ("/tmp", "/var/tmp", "/dev/shm"):
            for entry in Path(folder).iterdir():
                with contextlib.suppress(OSError):
                    if entry.lstat().st_uid == world.sandbox_uid:
                        problems.append(f"{entry} is owned by the sandbox's uid")
    return problems


def _others_touched(run: Run, world: World) -> list[str]:
    problems = [f"listener contacted: {c}" for c in world.listeners.contacts()]
    if world.holder.poll() is not None:
        problems.append(f"the holder died ({world.holder.returncode})")
    status = _read(f"/proc/{world.holder.pid}/status")
    if "TracerPid:\t0" not in status or "State:\tT" in status or "State:\tt" in status:
        problems.append("the holder is traced or stopped")
    for fd in world.pty:
        with contextlib.suppress(OSError):  # BlockingIOError: nothing arrived
            problems.append(f"the host pty received {os.read(fd, 1024)!r}")
    if run.marker in _read("/proc/keys"):
        problems.append("a key named after the marker is on the host key ring")
    if _kmsg_has(run.marker):
        problems.append("the host kernel log has the marker")
    if f" {world.shm.key + 1} " in _sysv():
        problems.append("the program's SysV segment appeared on the host")
    return problems


def changed(run: Run, world: World) -> list[str]:
    """Host state the run changed; global settings it changed are put back."""
    problems = [*_files_left(run, world), *_others_touched(run, world)]
    after = snapshot(world)
    for key, before in world.baseline.items():
        if after.get(key) != before:
            now = after.get(key, "")
            problems.append(f"host {key} changed: {before[:200]!r} -> {now[:200]!r}")
    restore_sysctls(world)
    return problems
