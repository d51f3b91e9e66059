"""``Enclosure``: the one facade that wires manifest, policy, router and decision log.

Every front door (Python API, CLI, later the server and the MCP gateway) goes
through this object, so each call takes the same path whatever door it came in by.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

from enclosure._clock import SystemClock, iso
from enclosure._desk import ApprovalDesk
from enclosure._home import default_home
from enclosure._ladder import Ladder
from enclosure._run import KillHook, Run
from enclosure._webhook import Webhook
from enclosure.audit import (
    CheckpointFile,
    Checkpointing,
    CheckpointWebhook,
    DecisionLog,
    Redactor,
    RunStartedEvent,
    SigningKeys,
    VerifyReport,
)
from enclosure.errors import ManifestError, UsageError
from enclosure.manifest import (
    AuditSpec,
    DetectorsSpec,
    Manifest,
    load_manifest,
    load_manifest_text,
    manifest_source,
)
from enclosure.monitor import Monitor, PriceTable, Telemetry, otlp_providers
from enclosure.policy import Policy, PolicyCompileError, compile_policy
from enclosure.router import HandlerProblem, SchemaProblem, ToolRouter

if TYPE_CHECKING:
    from enclosure.types import Clock

__all__ = [
    "Enclosure",
    "checkpointing",
    "default_home",
    "env_secret",
    "keys_folder",
    "open_log",
]

F = TypeVar("F", bound=Callable[..., Any])
DETECTORS = tuple(DetectorsSpec.model_fields)


def _sync_mode() -> Literal["normal", "full"]:
    value = os.environ.get("ENCLOSURE_DB_SYNC", "normal").lower()
    if value not in ("normal", "full"):
        msg = f"ENCLOSURE_DB_SYNC must be 'normal' or 'full', not {value!r}"
        raise UsageError(msg, code="E-USAGE-ENV")
    return "full" if value == "full" else "normal"


def open_log(
    home: Path | None = None,
    redactor: Redactor | None = None,
    checkpoints: Checkpointing | None = None,
) -> DecisionLog:
    """Open the decision log under ``home`` (default ``default_home()``).

    Raises:
        AuditUnavailable: the database cannot be created or opened.
    """
    return DecisionLog.open_home(
        home or default_home(),
        redactor=redactor or Redactor(),
        sync=_sync_mode(),
        checkpoints=checkpoints,
    )


def keys_folder(home: Path, spec: AuditSpec | None = None) -> Path:
    """Where the checkpoint signing key and keyring live for ``home``."""
    if spec is not None and spec.keys is not None:
        return Path(spec.keys).expanduser()
    return home / "keys"


def checkpointing(home: Path, spec: AuditSpec, clock: Clock) -> Checkpointing:
    """The checkpoint settings the manifest's ``audit`` section asks for.

    Raises:
        UsageError: a webhook's ``secret_env`` names an unset variable.
    """
    copies: list[CheckpointFile | CheckpointWebhook] = []
    for copy in spec.checkpoint_copies:
        if copy.file is not None:
            copies.append(CheckpointFile(Path(copy.file).expanduser()))
        elif copy.webhook is not None:
            secret = env_secret(copy.secret_env)
            copies.append(CheckpointWebhook(Webhook(copy.webhook, secret=secret)))
    return Checkpointing(
        keys=SigningKeys(keys_folder(home, spec)),
        clock=clock,
        every_events=spec.checkpoint_every,
        every_seconds=spec.checkpoint_interval,
        copies=tuple(copies),
    )


def env_secret(name: str | None) -> bytes | None:
    """The bytes of the secret in environment variable ``name`` (None for none).

    Raises:
        UsageError: ``E-USAGE-ENV``, the variable is unset or empty.
    """
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        msg = f"the manifest names ${name} for a webhook secret, but it is not set"
        raise UsageError(msg, code="E-USAGE-ENV")
    return value.encode("utf-8")


def compile_manifest(
    manifest: Manifest, *, import_handlers: bool
) -> tuple[Policy, ToolRouter]:
    """Compile the policy and build the router, locating every problem in the file.

    Raises:
        ManifestError: a condition, a schema or a handler reference is invalid.
    """
    source = manifest_source(manifest)
    try:
        policy = compile_policy(manifest)
    except PolicyCompileError as exc:
        issues = [source.issue(p.code, p.message, p.loc) for p in exc.problems]
        issues.sort(key=lambda i: (i.line, i.col))
        raise ManifestError(issues) from None
    try:
        router = ToolRouter(manifest, import_handlers=import_handlers)
    except SchemaProblem as exc:
        raise ManifestError(
            [source.issue("E-MANIFEST-SCHEMA", str(exc), exc.loc)]
        ) from None
    except HandlerProblem as exc:
        raise ManifestError(
            [source.issue("E-MANIFEST-HANDLER", str(exc), exc.loc)]
        ) from None
    return policy, router


class Enclosure:
    """A loaded manifest with its policy, router and decision log.

    >>> enc = Enclosure.load("enclosure.yaml")            # doctest: +SKIP
    >>> with enc.start_run(task="invoice-42") as run:      # doctest: +SKIP
    ...     run.call("send_email", {"to": "a@b.example"})
    """

    def __init__(
        self,
        manifest: Manifest,
        *,
        home: Path | str | None = None,
        log: DecisionLog | None = None,
        clock: Clock | None = None,
        secrets: Iterable[str] = (),
        telemetry: Telemetry | None = None,
    ) -> None:
        """Wire the parts for ``manifest``.

        Args:
            manifest: a validated manifest (see ``enclosure.manifest``).
            home: where the decision log lives; default ``default_home()``.
            log: an already open decision log (overrides ``home``).
            clock: the time source; tests pass a fake.
            secrets: values that must never be written anywhere; the manifest's
                ``redact.env`` variables are added.
            telemetry: where OpenTelemetry spans and metrics go; by default
                OTLP/HTTP to ``monitoring.otlp`` when the manifest has one.

        Raises:
            ManifestError: a condition, schema or handler is invalid.
            AuditUnavailable: the decision log cannot be opened.
        """
        self.manifest = manifest
        self.policy, self.router = compile_manifest(manifest, import_handlers=True)
        self.clock: Clock = clock or SystemClock()
        self.redactor = Redactor(secrets)
        for name in manifest.redact.env:
            if value := os.environ.get(name):
                self.redactor.add_secret(value)
        self.home = Path(home) if home is not None else default_home()
        """Where the decision log and the run quarantines live."""
        if log is None:
            settings = checkpointing(self.home, manifest.audit, self.clock)
            log = open_log(self.home, self.redactor, settings)
        self.log = log
        self.approvals = ApprovalDesk(log, self.clock)
        self.kill_hooks: list[KillHook] = []
        self._runs: dict[str, Run] = {}
        self.ladder = Ladder(log, manifest, self.clock, self._tools_of)
        """Each tool's maturity stage; demotes tools after incidents."""
        log.subscribe(self.ladder.observe)
        self.prices = PriceTable(manifest.cost.models)
        """Model prices for ``Run.record_usage``; the manifest extends them."""
        self.telemetry = telemetry
        if telemetry is None and manifest.monitoring.otlp is not None:
            self.telemetry = Telemetry(*otlp_providers(manifest.monitoring.otlp))
        if self.telemetry is not None:
            log.subscribe(self.telemetry.observe)
        self.monitor: Monitor | None = None
        """Runs the manifest's anomaly detectors, when it names any."""
        monitoring = manifest.monitoring
        self._webhooks = [
            Webhook(hook.url, secret=env_secret(hook.secret_env))
            for hook in monitoring.notify.webhooks
        ]
        if any(getattr(monitoring.detectors, name) for name in DETECTORS):
            self.monitor = Monitor(
                log, monitoring, self.clock, self._kill_run, self._webhooks
            )

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> Enclosure:
        """Load ``path`` and wire an enclosure for it; keywords as for ``__init__``.

        Raises:
            ManifestError: the file is unreadable or invalid; each issue has
                ``file:line:col`` and a code.
        """
        return cls(load_manifest(path), **kwargs)

    @staticmethod
    def check(path: str | Path) -> Manifest:
        """Validate a manifest fully: YAML, models, CEL and schemas.

        Handlers are not imported and the log is not opened, so CI can check a
        manifest without the agent's code.

        Raises:
            ManifestError: with every problem found.
        """
        manifest = load_manifest(path)
        compile_manifest(manifest, import_handlers=False)
        return manifest

    @property
    def quarantine_root(self) -> Path:
        """Where each run's quarantine folder is made (``<home>/quarantine``)."""
        return self.home / "quarantine"

    @staticmethod
    def check_text(text: str, file: str = "<string>") -> Manifest:
        """Validate manifest text as ``check`` validates a file.

        Args:
            text: the YAML source.
            file: the name issues are located in.

        Raises:
            ManifestError: with every problem found.
        """
        manifest = load_manifest_text(text, file)
        compile_manifest(manifest, import_handlers=False)
        return manifest

    def tool(
        self, name: str | None = None, *, simulator: bool = False
    ) -> Callable[[F], F]:
        """Decorator registering a handler (or simulator) for a declared tool.

        Raises:
            UsageError: the tool is not declared (``E-TOOL-UNDECLARED``).
        """

        def register(fn: F) -> F:
            self.router.register(name or fn.__name__, fn, simulator=simulator)
            return fn

        return register

    def on_kill(self, hook: KillHook) -> KillHook:
        """Register a hook fired when any run of this enclosure is killed."""
        self.kill_hooks.append(hook)
        return hook

    def start_run(
        self,
        task: str,
        *,
        agent: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
        started_by: str | None = None,
        run_id: str | None = None,
        shadow: bool = False,
    ) -> Run:
        """Start a run; every call made through it is decided and logged.

        ``run_id`` names it (an integration derives one from its own session id,
        so later processes can ``resume_run`` it); default a random ``run_...``.
        ``shadow`` runs read tools live and simulates every write, recording
        the proposed action in full under the case id ``task`` (as does the
        manifest's ``shadow: true``).

        Raises:
            AuditUnavailable: the run cannot be recorded, so it does not start.
            UsageError: ``run_id`` is taken.
        """
        run_id = run_id or "run_" + secrets.token_hex(8)
        agent = agent or self.manifest.agent.name
        now = self.clock.time()
        self.log.create_run(
            run_id=run_id,
            agent=agent,
            task=task,
            model=model,
            prompt_version=prompt_version,
            manifest_sha256=self.policy.manifest_sha256,
            started_by=started_by,
            started_at=now,
        )
        looked = self.clock.monotonic()  # before: what comes after was stored later
        started = self.log.append(
            RunStartedEvent(
                run_id=run_id,
                ts=iso(now),
                agent=agent,
                task=task,
                model=model,
                prompt_version=prompt_version,
                manifest_sha256=self.policy.manifest_sha256,
                started_by=started_by,
            )
        )
        run = Run(
            self,
            run_id=run_id,
            agent=agent,
            task=task,
            model=model,
            prompt_version=prompt_version,
            started_by=started_by,
            shadow=shadow,
            synced=started.seq,
            looked=looked,
        )
        self._runs[run_id] = run
        return run

    def resume_run(self, run_id: str, *, fresh: bool = False) -> Run:
        """A run started earlier, maybe by another process, its state rebuilt.

        A run this object already holds is returned as it is, unless ``fresh``:
        then it is rebuilt from the log, for a long-lived process (the hook's
        decision server) whose runs other processes move on between calls.

        The counters, rate windows, kill switch and open calls come back from the
        run's record and its decision and result events (``Run.restore``), so
        limits hold across processes that each handle some of the run's calls
        (a coding agent's hooks). Two processes must not decide calls of one run
        at the same time: the caller serialises them (the hook takes a file lock).

        Raises:
            UsageError: no such run in the log (``E-RUN-UNKNOWN``).
            AuditUnavailable: the log cannot be read.
        """
        if run_id in self._runs and not fresh:
            return self._runs[run_id]
        self._runs.pop(run_id, None)
        record = self.log.get_run(run_id)
        if record is None:
            msg = f"run {run_id!r} is not in the decision log"
            raise UsageError(msg, code="E-RUN-UNKNOWN")
        looked = self.clock.monotonic()
        events = self.log.events(run_id=run_id, kinds=("decision", "result"))
        run = Run(
            self,
            run_id=run_id,
            agent=record.agent,
            task=record.task,
            model=record.model,
            prompt_version=record.prompt_version,
            started_by=record.started_by,
            synced=events[-1].seq if events else 0,
            looked=looked,
        )
        run.restore(
            record.status,
            record.end_reason,
            record.started_at,
            (stored.event for stored in events),
        )
        self._runs[run_id] = run
        return run

    def get_run(self, run_id: str) -> Run:
        """A run started by this enclosure object.

        Raises:
            UsageError: unknown here (``E-RUN-UNKNOWN``).
        """
        try:
            return self._runs[run_id]
        except KeyError:
            msg = f"run {run_id!r} was not started by this enclosure"
            raise UsageError(msg, code="E-RUN-UNKNOWN") from None

    def _tools_of(self, run_id: str) -> list[str]:
        run = self._runs.get(run_id)
        return list(run.state.tool_calls) if run is not None else []

    def _kill_run(self, run_id: str, reason: str, rule: str) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            run.kill(reason, rule=rule)

    def verify(self) -> VerifyReport:
        """Check the decision log's hash chain."""
        return self.log.verify()

    def close(self) -> None:
        """End every open run and close the decision log."""
        try:
            for run in self._runs.values():
                run.end()
            self.log.close()
        finally:
            if self.telemetry is not None:
                self.telemetry.shutdown()
            for hook in self._webhooks:
                hook.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
