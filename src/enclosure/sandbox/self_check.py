"""Conformance checks every sandbox backend must pass, like a driver test kit.

``self_check(make_sandbox)`` runs each check against sandboxes built by
``make_sandbox`` from specs the check writes itself, and answers ``True`` or a
failure text per check name, as inspect_ai's ``self_check`` does. A new backend
(a microVM, a Kubernetes pod) proves itself by passing ``CHECKS``; a backend that
isolates also passes ``ISOLATION_CHECKS``, which the ``none`` backend fails by
design. Checks see a backend only through the ``Sandbox`` interface: they drive it
with commands and its file operations, never with its internals or timings.

Each check gets fresh host folders: ``ro`` (mounted read-only, holding
``hello.txt``) and ``rw`` (mounted writable), both at their own host paths, inside
a ``root`` folder that is not mounted. The writable mount is the only place
shared between commands of one sandbox (a backend may give each command its own
``/tmp``), so checks that coordinate two commands meet there, on a FIFO or a lock,
never on the clock. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio

from enclosure.errors import SandboxUnavailable
from enclosure.manifest import ComputeSpec
from enclosure.sandbox._base import ExecResult, Mount, Sandbox, SandboxSpec

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "CHECKS",
    "ISOLATION_CHECKS",
    "Check",
    "CheckFailed",
    "Harness",
    "MakeSandbox",
    "self_check",
]

MakeSandbox: TypeAlias = Callable[[SandboxSpec], Sandbox]
"""Builds a sandbox of the backend under test from a spec the check wrote."""
Check: TypeAlias = Callable[["Harness"], Awaitable[None]]
"""One named check: returns when the backend behaved, raises ``CheckFailed``."""

CHECK_SECONDS = 60.0
"""No check may take longer; a hung backend fails the check instead of the run."""
PROMPT_SECONDS = 5.0
"""How long "promptly" is: a kill, a wall-time stop, a rendezvous of two commands."""
OUTPUT_CAP = 256 * 1024
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}  # noqa: S108 -- the sandbox's /tmp
_BACKEND_ENV = frozenset({"PWD"})
"""Variables a backend or its launcher may set by itself (bwrap sets PWD)."""


class CheckFailed(AssertionError):
    """A backend broke the ``Sandbox`` contract; the message says how."""


@dataclass(frozen=True, slots=True)
class Harness:
    """What one check works with: the backend's factory and host folders."""

    make_sandbox: MakeSandbox
    root: Path
    """Host folder holding the mounts; itself not mounted."""
    ro: Path
    """Mounted read-only at the same path; holds ``hello.txt``."""
    rw: Path
    """Mounted writable at the same path; empty at first."""

    def spec(self, *, cwd: str = "/tmp", **caps: Any) -> SandboxSpec:  # noqa: S108
        """A spec with small caps (``caps`` override them) and both mounts."""
        compute = {
            "wall_time": 30,
            "cpu": 20,
            "memory": "512MiB",
            "processes": 64,
            "output": OUTPUT_CAP,
            "tmp_size": "8MiB",
            "disk": "8MiB",
        }
        return SandboxSpec(
            compute=ComputeSpec.model_validate(compute | caps),
            mounts=(
                Mount(self.ro, str(self.ro)),
                Mount(self.rw, str(self.rw), writable=True),
            ),
            env=ENV,
            cwd=cwd,
            watch_disk=(self.rw,),
        )

    @contextlib.contextmanager
    def sandbox(self, *, cwd: str = "/tmp", **caps: Any) -> Iterator[Sandbox]:  # noqa: S108
        """A sandbox for ``spec(cwd=cwd, **caps)``, cleaned up afterwards."""
        sandbox = self.make_sandbox(self.spec(cwd=cwd, **caps))
        try:
            yield sandbox
        finally:
            sandbox.cleanup()


async def self_check(
    make_sandbox: MakeSandbox,
    *,
    checks: Sequence[Check] = (),
) -> dict[str, bool | str]:
    """Run ``checks`` (all of ``CHECKS`` by default) against one backend.

    Args:
        make_sandbox: builds a sandbox of the backend under test from a spec.
        checks: which checks to run, in order.

    Returns:
        Each check's name mapped to ``True``, or to ``"failed: ..."`` when the
        backend broke the contract, or ``"error: ..."`` when the check crashed.
    """
    results: dict[str, bool | str] = {}
    for check in checks or CHECKS:
        with _harness(make_sandbox) as harness:
            results[check.__name__] = await _run(check, harness)
    return results


async def _run(check: Check, h: Harness) -> bool | str:
    try:
        with anyio.fail_after(CHECK_SECONDS):
            await check(h)
    except TimeoutError:
        return f"failed: no answer within {CHECK_SECONDS:g} s"
    except Exception as exc:  # noqa: BLE001 -- a crash is this check's result
        leaf = _leaf(exc)
        if isinstance(leaf, CheckFailed):
            return f"failed: {leaf}"
        return f"error: {leaf!r}"
    return True


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


@contextlib.contextmanager
def _harness(make_sandbox: MakeSandbox) -> Iterator[Harness]:
    root = Path(tempfile.mkdtemp(prefix="enclosure-self-check-")).resolve()
    ro, rw = root / "ro", root / "rw"
    try:
        root.chmod(0o755)  # the sandbox may run as another uid
        ro.mkdir(mode=0o755)
        rw.mkdir(mode=0o755)
        (ro / "hello.txt").write_bytes(b"hello\n")
        (ro / "hello.txt").chmod(0o444)
        ro.chmod(0o555)  # read-only by permission as well as by mount
        (root / "secret.txt").write_bytes(b"not for the sandbox\n")
        yield Harness(make_sandbox, root, ro, rw)
    finally:
        with contextlib.suppress(OSError):
            ro.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def _expect(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


async def _exec(
    sandbox: Sandbox,
    cmd: Sequence[str],
    *,
    within: float = PROMPT_SECONDS,
    **kwargs: Any,
) -> ExecResult:
    """``sandbox.exec`` that must return within ``within`` seconds."""
    with anyio.move_on_after(within):
        return await sandbox.exec(cmd, **kwargs)
    msg = f"{list(cmd)!r} did not return within {within:g} s"
    raise CheckFailed(msg)


def _show(r: ExecResult) -> str:
    return (
        f"exit {r.exit_code}, limit {r.limit}, stdout {r.stdout[:200]!r}, "
        f"stderr {r.stderr[:200]!r}"
    )


async def _raises(kind: type[OSError], action: Awaitable[object], what: str) -> None:
    """``action`` must raise ``kind`` (and promptly)."""
    try:
        with anyio.move_on_after(PROMPT_SECONDS) as scope:
            await action
    except kind:
        return
    except OSError as exc:
        msg = f"{what} raised {exc!r}, not {kind.__name__}"
        raise CheckFailed(msg) from exc
    late = f" within {PROMPT_SECONDS:g} s" if scope.cancelled_caught else ""
    msg = f"{what} raised no {kind.__name__}{late}"
    raise CheckFailed(msg)


# --- checks every backend must pass -------------------------------------------------


async def exit_status_and_both_streams_are_reported(h: Harness) -> None:
    """Exit code, stdout and stderr come back apart; exit 0 and no limit is ok."""
    with h.sandbox() as sb:
        r = await _exec(sb, ["echo", "hello"])
        _expect(r.ok and r.stdout == b"hello\n" and r.stderr == b"", _show(r))
        script = "printf out; printf err >&2; exit 3"
        r = await _exec(sb, ["sh", "-c", script])
        _expect((r.stdout, r.stderr) == (b"out", b"err"), _show(r))
        _expect(r.exit_code == 3 and r.limit is None and not r.ok, _show(r))  # noqa: PLR2004


async def stdin_is_delivered_and_empty_by_default(h: Harness) -> None:
    """``input`` reaches stdin byte for byte; without it stdin is at EOF."""
    data = b"line one\n\x00\xff binary\n"
    with h.sandbox() as sb:
        r = await _exec(sb, ["cat"], input=data)
        _expect(r.ok and r.stdout == data, f"stdin came back wrong: {_show(r)}")
        r = await _exec(sb, ["cat"])
        _expect(r.ok and r.stdout == b"", f"stdin was not empty: {_show(r)}")


async def environment_is_only_what_the_spec_says(h: Harness) -> None:
    """The spec's variables plus the call's ``env``; no host variable leaks in."""
    leak = "ENCLOSURE_SELF_CHECK_HOST_ONLY"
    with _host_variable(leak, "leaked"), h.sandbox() as sb:
        extra = {"GREETING": "grüße"}
        r = await _exec(sb, ["cat", "/proc/self/environ"], env=extra)
    _expect(r.ok, _show(r))
    seen = dict(item.split("=", 1) for item in r.text().split("\0") if "=" in item)
    _expect(leak not in seen, f"host variable {leak} leaked into the sandbox")
    wanted = {**ENV, **extra}
    for name, value in wanted.items():
        _expect(seen.get(name) == value, f"{name}={seen.get(name)!r}, not {value!r}")
    unexpected = sorted(set(seen) - set(wanted) - _BACKEND_ENV)
    _expect(not unexpected, f"variables nobody asked for: {unexpected}")


async def cwd_argument_is_honoured(h: Harness) -> None:
    """``exec(cwd=...)`` runs the command there."""
    with h.sandbox() as sb:
        r = await _exec(sb, ["pwd"], cwd=str(h.rw))
    _expect(r.ok and r.text().strip() == str(h.rw), f"cwd not honoured: {_show(r)}")


async def spec_cwd_is_the_default(h: Harness) -> None:
    """Without ``cwd``, a command starts in the spec's ``cwd``."""
    with h.sandbox(cwd=str(h.ro)) as sb:
        r = await _exec(sb, ["pwd"])
    _expect(r.ok and r.text().strip() == str(h.ro), f"spec cwd ignored: {_show(r)}")


async def read_of_a_missing_file_raises_file_not_found(h: Harness) -> None:
    """``read_file`` of a path that does not exist raises FileNotFoundError."""
    with h.sandbox() as sb:
        missing = str(h.rw / "missing.txt")
        await _raises(FileNotFoundError, sb.read_file(missing), "read_file(missing)")


async def write_then_read_round_trips_in_a_writable_mount(h: Harness) -> None:
    """Bytes written (any bytes) read back the same, in and across commands."""
    data = bytes(range(256)) * 3 + "ünïcode\n".encode()
    path = str(h.rw / "out.bin")
    with h.sandbox() as sb:
        await sb.write_file(path, data)
        back = await sb.read_file(path)
        _expect(back == data, f"read back {len(back)} bytes, not the {len(data)}")
        ro_text = await sb.read_file(str(h.ro / "hello.txt"))
        _expect(ro_text == b"hello\n", f"read-only mount read {ro_text!r}")


async def write_to_a_read_only_mount_raises_permission_error(h: Harness) -> None:
    """Neither a new file nor an existing one can be written in a read-only mount."""
    with h.sandbox() as sb:
        for path in (h.ro / "new.txt", h.ro / "hello.txt"):
            await _raises(
                PermissionError, sb.write_file(str(path), b"x"), f"write_file({path})"
            )
    _expect(not (h.ro / "new.txt").exists(), "the write reached the host anyway")


async def read_of_a_directory_raises_is_a_directory(h: Harness) -> None:
    """``read_file`` of a folder raises IsADirectoryError."""
    with h.sandbox() as sb:
        await _raises(IsADirectoryError, sb.read_file(str(h.rw)), "read_file(dir)")


async def write_into_a_missing_folder_raises_file_not_found(h: Harness) -> None:
    """``write_file`` under a folder that does not exist raises FileNotFoundError."""
    path = str(h.rw / "no-such-folder" / "x.txt")
    with h.sandbox() as sb:
        await _raises(FileNotFoundError, sb.write_file(path, b"x"), "write_file")


async def wall_time_kills_the_command_and_its_children(h: Harness) -> None:
    """At wall time the whole tree dies: a grandchild holding a lock lets go."""
    lock = str(h.rw / "lock")
    script = 'flock "$1" sh -c "echo held; exec sleep 600" & wait'
    with h.sandbox(wall_time=1) as sb:
        r = await _exec(sb, ["sh", "-c", script, "sh", lock], within=10)
    _expect(r.limit == "wall_time", f"limit is not wall_time: {_show(r)}")
    _expect(b"held" in r.stdout, f"the grandchild never ran: {_show(r)}")
    _expect(r.exit_code != 0, f"a killed command exited 0: {_show(r)}")
    with h.sandbox() as sb:
        probe = await _exec(sb, ["flock", "-w", "5", lock, "true"], within=10)
    _expect(probe.ok, f"a grandchild outlived the wall-time kill: {_show(probe)}")


async def output_over_the_cap_is_cut_with_limit_output(h: Harness) -> None:
    """Output beyond the cap is cut at the cap and stops the command."""
    cap = 64 * 1024
    with h.sandbox(output=cap) as sb:
        for stream in ("stdout", "stderr"):
            redirect = "" if stream == "stdout" else " >&2"
            script = f"yes | head -c {4 * cap}{redirect}; exec sleep 600"
            r = await _exec(sb, ["sh", "-c", script])
            data = r.stdout if stream == "stdout" else r.stderr
            cut = r.stdout_truncated if stream == "stdout" else r.stderr_truncated
            _expect(r.limit == "output", f"{stream}: limit is not output: {_show(r)}")
            _expect(len(data) == cap and cut, f"{stream}: {len(data)} bytes kept")
            _expect(data == (b"y\n" * cap)[:cap], f"{stream}: kept bytes are wrong")


async def kill_from_another_task_stops_a_running_command(h: Harness) -> None:
    """``kill()`` stops a command known to be running, promptly, as ``killed``."""
    fifo = str(h.rw / "ready")
    results: dict[str, ExecResult] = {}
    done = anyio.Event()
    with h.sandbox() as sb:
        await _exec(sb, ["mkfifo", fifo])

        async def victim() -> None:
            script = 'echo ready > "$1"; exec sleep 600'
            results["victim"] = await sb.exec(["sh", "-c", script, "sh", fifo])
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(victim)
            # Returns once the victim has opened the FIFO: it is running now.
            with anyio.move_on_after(PROMPT_SECONDS):
                results["ready"] = await sb.exec(["cat", fifo])
            if "ready" in results:
                sb.kill()
                with anyio.move_on_after(PROMPT_SECONDS):
                    await done.wait()
            tg.cancel_scope.cancel()
    _expect("ready" in results, "the victim command never started")
    _expect("victim" in results, f"kill() did not stop it within {PROMPT_SECONDS} s")
    r = results["victim"]
    _expect(r.limit == "killed" and r.exit_code != 0, f"after kill(): {_show(r)}")


async def nonzero_exit_is_a_result_not_an_exception(h: Harness) -> None:
    """A failing command is a result with its status, not an exception."""
    with h.sandbox() as sb:
        r = await _exec(sb, ["sh", "-c", "exit 42"])
        _expect(r.exit_code == 42 and r.limit is None, _show(r))  # noqa: PLR2004
        r = await _exec(sb, ["false"])
        _expect(r.exit_code == 1 and r.limit is None, _show(r))


async def signal_death_reads_as_128_plus_n(h: Harness) -> None:
    """A command ended by signal N reports exit 128+N (as a shell would)."""
    with h.sandbox() as sb:
        r = await _exec(sb, ["sh", "-c", "kill -TERM $$"])
    _expect(r.exit_code == 128 + 15 and r.limit is None, _show(r))


async def unknown_command_is_a_nonzero_exit_not_an_exception(h: Harness) -> None:
    """A command that does not exist exits non-zero; nothing raises."""
    with h.sandbox() as sb:
        r = await _exec(sb, ["enclosure-self-check-no-such-command"])
    _expect(r.exit_code != 0 and r.limit is None, _show(r))


async def output_just_under_the_cap_arrives_intact(h: Harness) -> None:
    """Cap minus one byte, every byte value, through stdin and back: intact."""
    data = (bytes(range(256)) * (OUTPUT_CAP // 256 + 1))[: OUTPUT_CAP - 1]
    with h.sandbox() as sb:
        r = await _exec(sb, ["cat"], input=data, within=15)
    _expect(r.ok and not r.stdout_truncated, _show(r))
    _expect(r.stdout == data, f"got {len(r.stdout)} bytes back, not {len(data)}")


async def unicode_arguments_pass_through(h: Harness) -> None:
    """Non-ASCII argv elements arrive unchanged, spaces and all."""
    args = ["héllo wörld", "日本語 ✓ \U0001f600", "ελληνικά"]
    with h.sandbox() as sb:
        r = await _exec(sb, ["printf", "%s\\n", *args])
    _expect(r.ok and r.text().splitlines() == args, _show(r))


async def shell_syntax_in_arguments_is_inert(h: Harness) -> None:
    """Quotes, ``$(…)``, globs, newlines and redirections arrive as plain bytes."""
    args = [
        "$(touch /tmp/pwned)", "`id`", "a'b\"c", "x\ny\n", "*", "; exit 7",
        "--", "-", "", " lead", "trail ", "> /tmp/x", "$HOME", "\\", "99<&-",
    ]  # fmt: skip
    env = {"INJECT": "$(id); `id` 'q'\nline2", "EMPTY": ""}
    script = (
        'printf "%s\\0" "$@"; printf "%s\\0" "$INJECT" "$EMPTY"; '
        "for f in /tmp/pwned /tmp/x; do [ -e $f ] && printf %s $f; done; true"
    )
    with h.sandbox() as sb:
        r = await _exec(sb, ["sh", "-c", script, "sh", *args], env=env)
    _expect(r.ok, _show(r))
    *values, listing = r.stdout.split(b"\0")
    got = [v.decode() for v in values]
    _expect(got == [*args, env["INJECT"], ""], f"arguments changed: {got!r}")
    _expect(listing == b"", f"a command ran from an argument: it made {listing!r}")


async def concurrent_execs_on_one_sandbox_work(h: Harness) -> None:
    """Commands of one sandbox run side by side: two meet on FIFOs, six echo."""
    ping, pong = str(h.rw / "ping"), str(h.rw / "pong")
    results: dict[str, ExecResult] = {}
    with h.sandbox() as sb:
        await _exec(sb, ["mkfifo", ping, pong])
        jobs: dict[str, list[str]] = {
            "a": ["sh", "-c", 'echo ping > "$1"; cat "$2"', "sh", ping, pong],
            "b": ["sh", "-c", 'cat "$1"; echo pong > "$2"', "sh", ping, pong],
        }
        jobs |= {str(i): ["echo", f"job {i}"] for i in range(6)}

        async def one(name: str) -> None:
            results[name] = await sb.exec(jobs[name])

        with anyio.move_on_after(2 * PROMPT_SECONDS):
            async with anyio.create_task_group() as tg:
                for name in jobs:
                    tg.start_soon(one, name)
    missing = sorted(set(jobs) - set(results))
    _expect(not missing, f"concurrent execs {missing} did not finish")
    _expect(results["a"].stdout == b"pong\n", f"a: {_show(results['a'])}")
    _expect(results["b"].stdout == b"ping\n", f"b: {_show(results['b'])}")
    for i in range(6):
        r = results[str(i)]
        _expect(r.ok and r.stdout == f"job {i}\n".encode(), f"{i}: {_show(r)}")


async def cleanup_is_idempotent_and_final(h: Harness) -> None:
    """``cleanup()`` twice is harmless; afterwards exec refuses to run."""
    sandbox = h.make_sandbox(h.spec())
    try:
        r = await _exec(sandbox, ["true"])
        _expect(r.ok, _show(r))
    finally:
        sandbox.cleanup()
    sandbox.cleanup()
    try:
        r = await _exec(sandbox, ["true"])
    except SandboxUnavailable:
        return
    msg = f"a cleaned-up sandbox still ran a command: {_show(r)}"
    raise CheckFailed(msg)


# --- checks only isolating backends pass ----------------------------------------------


async def network_is_cut_off(h: Harness) -> None:
    """Only a loopback interface, and the host's loopback cannot be reached."""
    with socket.create_server(("127.0.0.1", 0)) as server, h.sandbox() as sb:
        port = str(server.getsockname()[1])
        dev = await _exec(sb, ["cat", "/proc/net/dev"])
        connect = 'exec 3<>"/dev/tcp/127.0.0.1/$1"'
        r = await _exec(sb, ["bash", "-c", connect, "bash", port])
    names = {line.split(":")[0].strip() for line in dev.text().splitlines()[2:]}
    _expect(names <= {"lo"}, f"network interfaces inside: {sorted(names)}")
    _expect(r.exit_code != 127, f"needs bash to test the connection: {_show(r)}")  # noqa: PLR2004
    _expect(r.exit_code != 0, f"reached a port on the host's loopback: {_show(r)}")


async def root_is_read_only(h: Harness) -> None:
    """The filesystem at ``/`` is mounted read-only."""
    with h.sandbox() as sb:
        r = await _exec(sb, ["cat", "/proc/self/mountinfo"])
    roots = [
        line.split() for line in r.text().splitlines() if line.split()[4:5] == ["/"]
    ]
    _expect(roots, f"no mount at / in mountinfo: {_show(r)}")
    options = roots[-1][5].split(",")
    _expect("ro" in options, f"/ is mounted {roots[-1][5]}")


async def host_files_outside_mounts_are_hidden(h: Harness) -> None:
    """A host file next to the mounts, but not in one, does not exist inside."""
    with h.sandbox() as sb:
        r = await _exec(sb, ["test", "-e", str(h.root / "secret.txt")])
    _expect(r.exit_code != 0, "a host file outside every mount is visible")


async def host_processes_are_hidden(h: Harness) -> None:
    """The checking process itself cannot be seen in the sandbox's ``/proc``."""
    mine = await anyio.Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
    with h.sandbox() as sb:
        r = await _exec(sb, ["cat", f"/proc/{os.getpid()}/cmdline"])
    _expect(r.stdout != mine, "the host process running the check is visible")


@contextlib.contextmanager
def _host_variable(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


CHECKS: tuple[Check, ...] = (
    exit_status_and_both_streams_are_reported,
    stdin_is_delivered_and_empty_by_default,
    environment_is_only_what_the_spec_says,
    cwd_argument_is_honoured,
    spec_cwd_is_the_default,
    read_of_a_missing_file_raises_file_not_found,
    write_then_read_round_trips_in_a_writable_mount,
    write_to_a_read_only_mount_raises_permission_error,
    read_of_a_directory_raises_is_a_directory,
    write_into_a_missing_folder_raises_file_not_found,
    wall_time_kills_the_command_and_its_children,
    output_over_the_cap_is_cut_with_limit_output,
    kill_from_another_task_stops_a_running_command,
    nonzero_exit_is_a_result_not_an_exception,
    signal_death_reads_as_128_plus_n,
    unknown_command_is_a_nonzero_exit_not_an_exception,
    output_just_under_the_cap_arrives_intact,
    unicode_arguments_pass_through,
    shell_syntax_in_arguments_is_inert,
    concurrent_execs_on_one_sandbox_work,
    cleanup_is_idempotent_and_final,
)
"""What every backend must pass, ``none`` included."""

ISOLATION_CHECKS: tuple[Check, ...] = (
    network_is_cut_off,
    root_is_read_only,
    host_files_outside_mounts_are_hidden,
    host_processes_are_hidden,
)
"""What a backend that isolates must also pass; ``none`` fails them by design."""
