"""A run's compute and data layers: its sandbox, its quarantine, its commands.

Created the first time a run needs to execute something, so runs that only call
Python tools never touch bubblewrap. Every command it runs is logged as an
``ExecEvent``; when the run ends, the sandbox is torn down and what the run left
in quarantine is scanned and logged as ``ArtifactEvent``s, awaiting promotion.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from enclosure._clock import iso
from enclosure._json import canonical_json
from enclosure.audit import AlertEvent, ArtifactEvent, ExecEvent
from enclosure.errors import AuditUnavailable, SandboxUnavailable, ToolFailed
from enclosure.manifest import AGENT
from enclosure.sandbox import build_spec, open_sandbox, resolve_paths

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from enclosure._egress import RunEgress
    from enclosure._run import Run
    from enclosure.artifacts import Quarantine
    from enclosure.audit import DecisionLog
    from enclosure.audit._changes import Changes
    from enclosure.models import ToolCall
    from enclosure.sandbox import ExecResult, Mount, Sandbox, Spawned

__all__ = ["Workspace", "render_command"]

logger = logging.getLogger("enclosure")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
STDERR_TAIL = 400
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
"""A spawned process's output goes to its owner, not into the receipt."""
_WATCH_WAIT = 1.0
"""Seconds a kill watch waits for news at a time (it hears a commit at once)."""


class _KillWatch:
    """One listener per decision log for kills that other processes record.

    Runs with a command in flight are registered; while any is, one thread waits
    for commits to the log (``DecisionLog.changes``: PostgreSQL ``NOTIFY``, or
    SQLite's ``data_version`` every 50 ms) and, after each (and at least every
    ``_WATCH_WAIT`` seconds), reads whether a registered run was closed. Each such
    run's commands are killed and the run takes the close on in a thread of its
    own (``_adopt``: kill hooks and the quarantine scan may take long), so the
    listener goes on hearing the other runs' kills. One connection per process,
    however many commands run. A lost listening connection is opened again and
    every registered run re-read. The thread ends once nothing was registered for
    ``_WATCH_WAIT`` seconds (commands in a row share it), or its log is gone (it
    holds the log weakly, as ``_WATCHES`` does).
    """

    def __init__(self, log: DecisionLog) -> None:
        self._log = weakref.ref(log)
        self._lock = threading.Lock()
        self._runs: dict[Run, int] = {}  # commands in flight, per run
        self._changes: Changes | None = None
        self._running = False
        self._gen = 0
        """Which listener thread is the live one (a stopped one never interferes)."""
        self._idle_since: float | None = None
        """Since when nothing is registered (monotonic seconds)."""

    def register(self, run: Run, log: DecisionLog) -> None:
        """Listen for ``run``'s kill until ``unregister``; call before checking it.

        ``log`` is this watch's log, which the caller holds.

        Raises:
            AuditUnavailable: listening cannot start.
        """
        with self._lock:
            if not self._running:
                changes = log.changes()
                self._gen += 1
                thread = threading.Thread(
                    target=self._watch, args=(self._gen,), name="enclosure-kills"
                )
                thread.daemon = True
                try:
                    thread.start()
                except BaseException:
                    changes.close()
                    raise
                self._changes, self._running = changes, True
            self._runs[run] = self._runs.get(run, 0) + 1
            self._idle_since = None

    def unregister(self, run: Run) -> None:
        """One command of ``run`` is over.

        The listener lingers one more wait, so that the next command (often
        right behind) finds it listening instead of opening a connection anew.
        """
        with self._lock:
            left = self._runs.pop(run) - 1
            if left:
                self._runs[run] = left

    def _watch(self, gen: int) -> None:
        try:
            while self._listen(gen):
                pass
        finally:
            self._stop(gen, force=True)

    def _stop(self, gen: int, *, force: bool) -> bool:
        """Stop listening if the log is gone or idle (or ``force``); under the lock.

        Idle means nothing registered for ``_WATCH_WAIT`` seconds. ``gen`` names
        the thread asking: a thread that already stopped never stops the one
        ``register`` started after it.
        """
        log = self._log()
        now = time.monotonic()
        with self._lock:
            if self._gen != gen or not self._running:
                return True
            if self._runs:
                self._idle_since = None
            elif self._idle_since is None:
                self._idle_since = now
            idle = self._idle_since is not None and now - self._idle_since >= (
                _WATCH_WAIT
            )
            if not (force or idle or log is None or log.closed):
                return False
            changes, self._changes, self._running = self._changes, None, False
        if changes is not None:
            with contextlib.suppress(AuditUnavailable):
                changes.close()
        return True

    def _listen(self, gen: int) -> bool:
        """Wait for news, then check the runs in flight; ``False`` when done.

        It checks after every wait, news or not, so a check that failed is made
        again within ``_WATCH_WAIT``. It stops when its log is gone, or nothing
        was registered for a whole wait. The log is looked up after each wait,
        never held across one.
        """
        if self._stop(gen, force=False):
            return False
        with self._lock:
            changes = self._changes
        try:
            if changes is None:
                log = self._log()
                if log is None:
                    return False
                changes = log.changes()  # then check: whatever came meanwhile
                with self._lock:
                    self._changes = changes
                del log
            else:
                changes.wait(_WATCH_WAIT)
        except AuditUnavailable:
            logger.warning("lost the decision log's change feed; listening again")
            with self._lock:
                lost, self._changes = self._changes, None
            if lost is not None:
                with contextlib.suppress(AuditUnavailable):
                    lost.close()
            time.sleep(_WATCH_WAIT)  # the log may be down: no busy loop
            return True
        log = self._log()
        if log is None:
            return False
        try:
            self._check(log)
        except Exception:  # the listener's boundary: it must go on for the others
            logger.exception("could not check the runs in flight for kills")
        return True

    def _check(self, log: DecisionLog) -> None:
        """Hand each registered run that another process closed to its own thread.

        Raises:
            AuditUnavailable: the log cannot be read.
        """
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            if run.status == "running" and log.run_closed(run.id):
                adopt = threading.Thread(
                    target=_adopt, args=(run,), name=f"enclosure-kill-{run.id}"
                )
                adopt.daemon = True
                adopt.start()


def _adopt(run: Run) -> None:
    """Stop the run's commands, then ``Run._adopt_close``; a failure is logged.

    The commands stop first: the log has said the run is over, and reading how
    (``_adopt_close``) may fail.
    """
    try:
        run.workspace.kill()
        run._adopt_close()  # noqa: SLF001 -- wiring inside the facade
    except Exception:  # the thread's boundary: the next call refuses all the same
        logger.exception("run %s: a kill made elsewhere could not be taken on", run.id)


_WATCHES: weakref.WeakKeyDictionary[DecisionLog, _KillWatch] = (
    weakref.WeakKeyDictionary()
)
_WATCHES_LOCK = threading.Lock()


def _watch_of(log: DecisionLog) -> _KillWatch:
    with _WATCHES_LOCK:
        watch = _WATCHES.get(log)
        if watch is None:
            watch = _WATCHES[log] = _KillWatch(log)
        return watch


def render_command(template: Sequence[str], args: Mapping[str, Any]) -> list[str]:
    """Fill ``{name}`` placeholders from ``args``, each inside its own argv element.

    Strings go in as they are; other values as JSON. Nothing is ever split into
    words or seen by a shell.

    Raises:
        ToolFailed: a placeholder names an argument the call does not have
            (``E-COMMAND-ARG``).

    >>> render_command(["wc", "-l", "--", "{path}"], {"path": "a b.txt"})
    ['wc', '-l', '--', 'a b.txt']
    """

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in args:
            msg = f"the command needs argument {name!r}, which the call did not pass"
            raise ToolFailed(msg, code="E-COMMAND-ARG")
        value = args[name]
        return value if isinstance(value, str) else json.dumps(value)

    return [_PLACEHOLDER.sub(fill, part) for part in template]


class Workspace:
    """The sandbox and quarantine of one run; thread-safe."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._lock = threading.Lock()
        self._sandbox: Sandbox | None = None
        self._host: Sandbox | None = None
        self._quarantine: Quarantine | None = None
        self._egress: RunEgress | None = None
        self._receipts: dict[str, dict[str, Any]] = {}
        self._closed = False

    @property
    def egress(self) -> RunEgress | None:
        """The run's egress proxy, once a sandbox with network rules was opened."""
        return self._egress

    @property
    def quarantine(self) -> Quarantine | None:
        """The run's quarantine, once a sandbox was opened."""
        return self._quarantine

    def sandbox(self, *, extra: Sequence[Mount] = ()) -> Sandbox:
        """The run's sandbox, created on first use (``extra`` mounts only then).

        Raises:
            SandboxUnavailable: no working sandbox; nothing will run.
            UsageError: a ``filesystem`` path is unusable.
        """
        with self._lock:
            if self._closed:
                msg = f"run {self.run.id} is over; its sandbox is gone"
                raise SandboxUnavailable(msg, code="E-SANDBOX-CLOSED")
            if self._sandbox is None:
                self._sandbox = self._open(extra)
            return self._sandbox

    def _open(self, extra: Sequence[Mount]) -> Sandbox:
        from enclosure.artifacts import Quarantine  # noqa: PLC0415 -- on first use

        enc = self.run._enc  # noqa: SLF001 -- wiring inside the facade
        manifest = enc.manifest
        _, write = resolve_paths(manifest)
        quarantine = Quarantine.create(enc.quarantine_root, self.run.id, write)
        egress = None
        try:
            if manifest.network.rules and manifest.compute.backend != "none":
                from enclosure._egress import RunEgress  # noqa: PLC0415 -- when used

                egress = RunEgress(self.run)
                extra = (*extra, egress.mount)
            spec = build_spec(manifest, writable=quarantine.mounts, extra=extra)
            if egress is not None:
                spec = dataclasses.replace(spec, env={**spec.env, **egress.env})
            sandbox = open_sandbox(manifest, spec)
        except BaseException:
            quarantine.discard()
            if egress is not None:
                egress.close()
            raise
        self._quarantine = quarantine
        self._egress = egress
        if manifest.compute.backend == "none":
            enc.log.append(
                AlertEvent(
                    run_id=self.run.id,
                    ts=iso(enc.clock.time()),
                    severity="warning",
                    rule="compute.backend",
                    message="commands of this run execute unsandboxed on the host "
                    "(compute.backend: none in the manifest)",
                )
            )
        return sandbox

    def exec(
        self,
        cmd: Sequence[str],
        *,
        input: bytes | None = None,  # noqa: A002 -- subprocess's own name
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        call_id: str | None = None,
        extra: Sequence[Mount] = (),
        principal: str = AGENT,
    ) -> ExecResult:
        """Run ``cmd`` in the run's sandbox and log an ``ExecEvent``.

        ``principal`` (a tool name, or ``agent``) and ``call_id`` are whom the
        command's network requests are attributed to and checked against.

        Raises:
            SandboxUnavailable: no working sandbox; nothing ran.
            RunKilled: the run is not running (``E-RUN-KILLED``).
            AuditUnavailable: the result could not be logged.
        """
        self.run.ensure_running()
        sandbox = self.sandbox(extra=extra)
        egress = self._egress
        hook = egress.hook(principal, call_id) if egress is not None else None
        with self._kills_heard():
            if hook is None:
                result = sandbox.exec_sync(cmd, input=input, cwd=cwd, env=env)
            else:
                result = sandbox.exec_sync(
                    cmd, input=input, cwd=cwd, env=env, on_start=hook
                )
        enc = self.run._enc  # noqa: SLF001 -- wiring inside the facade
        enc.log.append(
            ExecEvent(
                run_id=self.run.id,
                ts=iso(enc.clock.time()),
                backend=sandbox.name,
                argv=[enc.redactor.redact_text(a) for a in cmd][:64],
                exit_code=result.exit_code,
                limit=result.limit,
                duration_ms=round(result.duration_s * 1000, 3),
                output_sha256=result.output_sha256,
                call_id=call_id,
            )
        )
        return result

    @contextlib.contextmanager
    def _kills_heard(self) -> Iterator[None]:
        """While a command runs, a kill recorded by another process stops it.

        A server, the dashboard or a second enclosure on the same log may kill
        this run while one of its commands runs here. The log's ``_KillWatch``
        hears it and takes it on (``Run._adopt_close``): the command's whole
        tree is killed as by a kill made here. A log that cannot be listened to
        leaves the command to its own caps; the next call is refused all the
        same.

        Raises:
            RunKilled: the run was killed elsewhere before the command started.
            AuditUnavailable: the log cannot be read; nothing runs.
        """
        run = self.run
        watch: _KillWatch | None = None
        try:
            log = run._enc.log  # noqa: SLF001 -- wiring inside the facade
            candidate = _watch_of(log)
            candidate.register(run, log)  # listening first: no kill falls between
            watch = candidate
        except AuditUnavailable:
            logger.warning("run %s: cannot listen for kills made elsewhere", run.id)
        try:
            self._refuse_if_closed()
            yield
        finally:
            if watch is not None:
                watch.unregister(run)

    def _refuse_if_closed(self) -> None:
        """Raise if another process killed or ended the run; take that on first.

        Raises:
            RunKilled: the run was killed (``E-RUN-KILLED``).
            UsageError: the run has ended (``E-RUN-ENDED``).
            AuditUnavailable: the log cannot be read; nothing may start.
        """
        run = self.run
        if run._enc.log.run_closed(run.id):  # noqa: SLF001 -- wiring
            run._adopt_close()  # noqa: SLF001 -- wiring inside the facade
            run.ensure_running()

    def spawn(
        self,
        cmd: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        principal: str = AGENT,
        isolated: bool = True,
    ) -> Spawned:
        """Start a long-lived process (an MCP server) in the run's sandbox.

        Its network, if the manifest has rules, goes through the run's egress
        proxy as ``principal``. ``isolated=False`` starts it on the host with the
        caps only (the manifest said ``sandbox: none`` for it) and logs a warning
        alert. An ``ExecEvent`` is logged once the process is closed.

        Raises:
            SandboxUnavailable: no working sandbox; nothing runs.
            RunKilled: the run is not running (``E-RUN-KILLED``), here or
                because another process killed it.
            AuditUnavailable: the log cannot be read; nothing starts.
        """
        self.run.ensure_running()
        self._refuse_if_closed()
        enc = self.run._enc  # noqa: SLF001 -- wiring inside the facade
        if isolated:
            sandbox = self.sandbox()
            egress = self._egress
            hook = egress.hook(principal) if egress is not None else None
        else:
            sandbox, hook = self._host_runner(), None
            enc.log.append(
                AlertEvent(
                    run_id=self.run.id,
                    ts=iso(enc.clock.time()),
                    severity="warning",
                    rule="upstreams.sandbox",
                    message=f"{principal} runs unsandboxed on the host "
                    "(sandbox: none in the manifest)",
                )
            )
        if hook is None:
            proc = sandbox.spawn(cmd, cwd=cwd, env=env)
        else:
            proc = sandbox.spawn(cmd, cwd=cwd, env=env, on_start=hook)
        backend = sandbox.name

        def closed(proc: Spawned) -> None:
            try:
                enc.log.append(
                    ExecEvent(
                        run_id=self.run.id,
                        ts=iso(enc.clock.time()),
                        backend=backend,
                        argv=[enc.redactor.redact_text(a) for a in cmd][:64],
                        exit_code=proc.returncode or 0,
                        limit=proc.limit,
                        duration_ms=round((proc.duration_s or 0.0) * 1000, 3),
                        output_sha256=_EMPTY_SHA256,
                    )
                )
            except AuditUnavailable:
                logger.exception(
                    "run %s: a spawned process could not be logged", self.run.id
                )

        proc.on_close = closed
        return proc

    def _host_runner(self) -> Sandbox:
        """The caps-only host runner for what the manifest runs unsandboxed."""
        with self._lock:
            if self._closed:
                msg = f"run {self.run.id} is over; its sandbox is gone"
                raise SandboxUnavailable(msg, code="E-SANDBOX-CLOSED")
            if self._host is None:
                manifest = self.run._enc.manifest  # noqa: SLF001 -- the facade's
                self._host = open_sandbox(
                    manifest, build_spec(manifest), backend="none"
                )
            return self._host

    def run_command(self, call: ToolCall) -> Any:
        """Execute a ``command`` tool: the handler the router calls for it.

        Returns ``{"exit_code", "stdout", "stderr"}``, or stdout parsed as JSON
        when the tool declares an ``output_schema``.

        Raises:
            ToolFailed: a limit stopped it (``E-SANDBOX-LIMIT``), it exited
                non-zero (``E-COMMAND-FAILED``), or its output is not JSON when
                JSON was declared (``E-COMMAND-OUTPUT``).
        """
        enc = self.run._enc  # noqa: SLF001 -- wiring inside the facade
        spec = enc.manifest.tools[call.tool]
        assert spec.command is not None  # noqa: S101 -- the router checked
        argv = render_command(spec.command, call.args)
        result = self.exec(
            argv,
            input=canonical_json(call.args),
            call_id=call.call_id,
            principal=call.tool,
        )
        with self._lock:
            self._receipts[call.call_id] = result.summary()
        stderr = enc.redactor.redact_text(result.text(stream="stderr"))
        if result.limit is not None:
            msg = f"the sandbox's {result.limit} limit stopped {call.tool!r}"
            raise ToolFailed(msg, code="E-SANDBOX-LIMIT")
        if result.exit_code != 0:
            msg = (
                f"{call.tool!r} exited with status {result.exit_code}: "
                f"{stderr[-STDERR_TAIL:].strip()}"
            )
            raise ToolFailed(msg, code="E-COMMAND-FAILED")
        if spec.output_schema is not None:
            try:
                return json.loads(result.stdout)
            except ValueError:
                msg = f"{call.tool!r} declares an output_schema but printed no JSON"
                raise ToolFailed(msg, code="E-COMMAND-OUTPUT") from None
        return {
            "exit_code": result.exit_code,
            "stdout": enc.redactor.redact_text(result.text()),
            "stderr": stderr,
        }

    def pop_receipt(self, call_id: str) -> dict[str, Any] | None:
        """The sandbox receipt (exit status, limit, output digest) of a command call."""
        with self._lock:
            return self._receipts.pop(call_id, None)

    def kill(self) -> None:
        """Kill whatever runs in the sandbox now; thread-safe, never blocks long."""
        sandbox, egress = self._sandbox, self._egress
        for box in (sandbox, self._host):
            if box is not None:
                box.kill()
        if egress is not None:
            egress.kill()

    def close(self) -> None:
        """Tear down the sandbox, then scan the quarantine and log its artifacts."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sandbox, quarantine = self._sandbox, self._quarantine
        for box in (sandbox, self._host):
            if box is not None:
                box.cleanup()
        if self._egress is not None:
            self._egress.close()
        if quarantine is None:
            return
        enc = self.run._enc  # noqa: SLF001 -- wiring inside the facade
        for artifact in quarantine.scan():
            enc.log.append(
                ArtifactEvent(
                    run_id=self.run.id,
                    ts=iso(enc.clock.time()),
                    action="scanned",
                    artifact_id=artifact.id,
                    path=str(artifact.path),
                    change=artifact.change,
                    sha256=artifact.sha256,
                    findings=list(artifact.findings),
                )
            )
