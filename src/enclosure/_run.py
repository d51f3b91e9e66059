"""A run: one agent task, every call of which goes through policy, router and log.

The path of one call: validate the arguments, ask the policy engine, record the
decision, and only then act on it. A live call's decision is written *before* the
handler runs, so a call that could not be recorded never runs (fail closed); its
result follows as a second event with the same ``call_id``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

from enclosure._clock import iso
from enclosure._json import canonical_json, sha256_hex, sha256_json
from enclosure._workspace import Workspace
from enclosure.approvals import binding_sha256
from enclosure.audit import (
    AlertEvent,
    Appended,
    ApprovalEvent,
    DecisionEvent,
    KillEvent,
    ResultEvent,
    RunClosed,
    RunEndedEvent,
    ShadowEvent,
    UsageEvent,
    ValidatorResult,
)
from enclosure.errors import (
    ApprovalError,
    AuditUnavailable,
    EnclosureError,
    RunKilled,
    ToolFailed,
    UsageError,
)
from enclosure.models import (
    CallResult,
    Decision,
    ErrorInfo,
    Receipt,
    ToolCall,
    trusted,
)
from enclosure.policy import RunState

if TYPE_CHECKING:
    from enclosure._enclosure import Enclosure
    from enclosure.approvals import Approval
    from enclosure.audit import Event
    from enclosure.types import Disposition, JSONObject, RunStatus

__all__ = ["KillHook", "Run"]

logger = logging.getLogger("enclosure")

F = TypeVar("F", bound=Callable[..., Any])

KillHook = Callable[["Run", str], None]
"""Called with the run and the reason once a run is killed."""

EXCERPT_CHARS = 512
MAX_LOGGED_STRING = 2048
SKEW_WARN_S = 2.0
"""How far outside where it can be an event from another process may be dated
before a run warns that the clocks differ (``Run._fold``)."""


_APPROVAL_KEY = re.compile(r"apr_[0-9a-f]{16,64}")


def _keyed_approval(run_id: str, key: str | None) -> str | None:
    """The id of the approval asked under ``key`` in run ``run_id``.

    Taken over the run as well, so no run can ask (or pre-ask) under another's
    key: the same key in two runs names two approvals.
    """
    if key is None:
        return None
    return "apr_" + sha256_hex(f"{run_id}\n{key}".encode())[:32]


class _CallIds:
    """Random call ids (16 hex digits), cut eight bytes at a time from 4 KiB reads.

    ``secrets.token_hex(8)`` makes one ``getrandom`` call per id, which cost a
    call ~12 µs with cold caches. The ids come from the same source and are
    just as unguessable; a forked child starts with an empty buffer (and a new
    lock), so it never repeats its parent's ids.
    """

    _CHUNK = 4096

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start over with a new lock and no bytes (in a forked child)."""
        self._lock = threading.Lock()
        self._buf = b""
        self._at = 0

    def next(self) -> str:
        """The next id."""
        with self._lock:
            at = self._at
            if at >= len(self._buf):
                self._buf, at = os.urandom(self._CHUNK), 0
            self._at = at + 8
            return self._buf[at : at + 8].hex()


_call_ids = _CallIds()
os.register_at_fork(after_in_child=_call_ids.reset)
"""Arguments that passed their schema: frozen, so every such call shares it."""


def _bounded(value: Any) -> Any:
    """Cut long strings so one huge argument cannot flood the log."""
    if isinstance(value, str) and len(value) > MAX_LOGGED_STRING:
        return value[:MAX_LOGGED_STRING] + f"...[{len(value)} chars]"
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    return value


@dataclass(slots=True)
class _Prepared:
    """A live call that has been decided and logged, ready to run."""

    call: ToolCall
    decision: Decision
    args_sha256: str
    started_ns: int
    appended: Appended | None = None
    """Where its ``dispatched`` decision event sits in the log."""


class Run:
    """One agent task under a manifest. Use ``Enclosure.start_run`` to make one."""

    def __init__(  # noqa: PLR0913 -- the run's record, field by field
        self,
        enc: Enclosure,
        *,
        run_id: str,
        agent: str,
        task: str,
        model: str | None,
        prompt_version: str | None,
        started_by: str | None,
        shadow: bool = False,
        synced: int = 0,
        looked: float | None = None,
    ) -> None:
        self._enc = enc
        self.id = run_id
        self.agent = agent
        self.task = task
        self.model = model
        self.prompt_version = prompt_version
        self.started_by = started_by
        self.status: RunStatus = "running"
        self.shadow = shadow or enc.manifest.shadow
        """Read tools run live; every write is simulated and recorded in full."""
        self.state = RunState(run_id, agent, task, enc.clock.monotonic(), model=model)
        self._lock = threading.RLock()
        self._kill_hooks: list[KillHook] = []
        self._parked: dict[str, ToolCall] = {}
        self._open: dict[str, _Prepared] = {}
        """Calls ``propose`` let through (or parked) whose result is not logged yet."""
        self._synced = synced
        """The log's seq up to which other processes' decisions of this run are
        counted in here (see ``exclusively``)."""
        self._looked = enc.clock.monotonic() if looked is None else looked
        """When the log was known up to ``_synced``: whatever comes after it there
        was stored later, so happened no earlier than this (``_fold``)."""
        self._skew_told = False
        self.workspace = Workspace(self)
        """The run's sandbox and quarantine (created when first needed)."""

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.agent!r} {self.status}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()

    # ---- public API -------------------------------------------------------------

    def on_kill(self, hook: KillHook) -> KillHook:
        """Register a hook fired once when this run is killed; usable as a decorator."""
        self._kill_hooks.append(hook)
        return hook

    def tool(self, fn: F, *, name: str | None = None) -> F:
        """``fn`` behind this run, usable as a decorator: ``@run.tool``.

        Each call of the returned function is decided, logged and then run, or
        raises the coded error; see ``enclosure.integrations.openai_style.guard``.
        """
        from enclosure.integrations.openai_style import guard  # noqa: PLC0415 -- plain runs never load the integrations

        return guard(self, fn, name=name)

    def dispatch(
        self,
        tool_calls: Sequence[Any],
        *,
        tools: Mapping[str, Callable[..., Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Run a model's ``tool_calls`` through this run; the messages to send back.

        See ``enclosure.integrations.openai_style.dispatch``.

        Raises:
            RunKilled: the run was killed; stop the agent loop.
        """
        from enclosure.integrations.openai_style import dispatch  # noqa: PLC0415 -- plain runs never load the integrations

        return dispatch(self, tool_calls, tools=tools)

    def call(
        self,
        tool: str,
        args: JSONObject | None = None,
        *,
        context: JSONObject | None = None,
        approval_id: str | None = None,
        handler: Callable[..., Any] | None = None,
        output_checked: bool = True,
    ) -> CallResult:
        """Propose one call; it is validated, decided, logged and then acted on.

        Args:
            tool: the tool's name in the manifest.
            args: its arguments.
            context: what led to the call (visible to conditions as ``context``).
            approval_id: an approval a human granted for exactly this call.
            handler: runs the call instead of the tool's registered handler (an
                integration passes the framework's own tool function); the call
                is decided and logged exactly the same way.
            output_checked: ``False`` when ``handler`` does not return the tool's
                output (a framework's guardrail that only decides, the framework
                runs the tool): its value is then not checked against the
                tool's ``output_schema``.

        Returns:
            A ``CallResult`` for every outcome; ``.unwrap()`` raises the coded error.

        Raises:
            UsageError: the run has ended (``E-RUN-ENDED``).
        """
        prepared = self._prepare(tool, args, context, approval_id)
        if isinstance(prepared, CallResult):
            return prepared
        try:
            value = self._enc.router.execute(
                prepared.call, command=self.workspace.run_command, handler=handler
            )
        except UsageError as exc:
            return self._finish(prepared, None, exc)
        except Exception as exc:  # noqa: BLE001 -- the tool boundary: any handler error becomes a coded, logged result
            return self._finish(prepared, None, exc)
        except BaseException as exc:
            self._interrupted(prepared, exc)
            raise
        return self._finish(prepared, value, None, checked=output_checked)

    async def acall(
        self,
        tool: str,
        args: JSONObject | None = None,
        *,
        context: JSONObject | None = None,
        approval_id: str | None = None,
        handler: Callable[..., Any] | None = None,
        output_checked: bool = True,
    ) -> CallResult:
        """``call`` for async code; same arguments, result and errors.

        Async handlers are awaited; sync ones run in a worker thread so the event
        loop is never blocked by a tool.
        """
        prepared = self._prepare(tool, args, context, approval_id)
        if isinstance(prepared, CallResult):
            return prepared
        try:
            value = await self._enc.router.aexecute(
                prepared.call, command=self.workspace.run_command, handler=handler
            )
        except Exception as exc:  # noqa: BLE001 -- the tool boundary: any handler error becomes a coded, logged result
            return self._finish(prepared, None, exc)
        except BaseException as exc:
            self._interrupted(prepared, exc)
            raise
        return self._finish(prepared, value, None, checked=output_checked)

    def _interrupted(self, prepared: _Prepared, exc: BaseException) -> None:
        """Log a call that was cancelled (a timeout, a sibling's kill) or interrupted.

        Its decision is on record, so it gets a failed result (``E-TOOL-CANCELLED``,
        counted as an error) before the cancellation goes on up.
        """
        why = type(exc).__name__
        cancelled = ToolFailed(
            f"the call was cancelled ({why})", code="E-TOOL-CANCELLED"
        )
        self._finish(prepared, None, cancelled)

    def propose(
        self,
        tool: str,
        args: JSONObject | None = None,
        *,
        context: JSONObject | None = None,
        approval_id: str | None = None,
        approval_key: str | None = None,
    ) -> CallResult:
        """Decide and log a call that the caller runs itself, such as a coding agent.

        Everything happens as in ``call`` except running the tool: an allowed
        call comes back with status ``dispatched`` (its decision is on record) and
        the caller reports what became of it with ``record_result``, from this
        process or, after ``Enclosure.resume_run``, from another one.

        ``approval_key`` (``apr_`` and 16 to 64 hex digits) names the approval
        an ``approve`` decision parks the call on (its id is derived from the
        run and the key), for a caller that replays the same call, perhaps in
        another process (a LangGraph graph resumed from a durable checkpointer):
        the approval already asked under that key for this run, tool and exact
        arguments is waited on as it stands (pending, or decided: a release still
        needs it approved and unused) instead of a new one being asked; under a
        key used for another call, a new approval is asked.

        Raises:
            UsageError: the run has ended (``E-RUN-ENDED``), or ``approval_key``
                is malformed (``E-APPROVAL-KEY``).
        """
        if approval_key is not None and not _APPROVAL_KEY.fullmatch(approval_key):
            shown = repr(approval_key)[:80]
            msg = f"approval_key must be 'apr_' and 16 to 64 hex digits, not {shown}"
            raise UsageError(msg, code="E-APPROVAL-KEY")
        prepared = self._prepare(tool, args, context, approval_id, approval_key)
        if isinstance(prepared, CallResult):
            if prepared.status == "pending" and prepared.receipt is not None:
                # A human may let it run outside the enclosure (a coding agent's
                # own prompt): its result is then recorded against this call.
                self._remember(prepared.receipt, prepared.decision)
            return prepared
        self._open[prepared.call.call_id] = prepared
        appended = prepared.appended
        return trusted(
            CallResult,
            status="dispatched",
            decision=prepared.decision,
            value=None,
            receipt=trusted(
                Receipt,
                call_id=prepared.call.call_id,
                run_id=self.id,
                tool=tool,
                args_sha256=prepared.args_sha256,
                disposition="dispatched",
                event_seq=appended.seq if appended else 0,
                event_hash=appended.hash if appended else "",
                latency_us=(time.perf_counter_ns() - prepared.started_ns) // 1000,
                output_sha256=None,
                sandbox=None,
            ),
            error=None,
            approval_id=None,
        )

    def record_usage(
        self, model: str, *, input_tokens: int, output_tokens: int
    ) -> float:
        """Record model tokens the agent used; their cost counts toward the run's.

        The cost comes from the price table (``Enclosure.prices``: built-in
        prices, extended by the manifest's ``cost.models``), is logged as a
        ``usage`` event, and adds to ``run.cost``, so ``kill_switch.max_cost``
        and the cost-burn detector see it.

        Returns:
            The cost of these tokens.

        Raises:
            UsageError: ``E-COST-MODEL`` (no price for ``model``), or
                ``E-RUN-ENDED``.
            AuditUnavailable: the usage could not be logged.
        """
        enc = self._enc
        cost = enc.prices.cost(model, input_tokens, output_tokens)
        with self._lock:
            self.ensure_running()
            self.state.cost += cost
        try:
            enc.log.append(
                UsageEvent(
                    run_id=self.id,
                    ts=iso(enc.clock.time()),
                    model=model,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cost=cost,
                ),
                live=True,
            )
        except RunClosed:
            self._adopt_close()
            self.ensure_running()  # raises: the run is over
        return cost

    def open_call(self, tool: str, args: JSONObject) -> str | None:
        """The oldest proposed call to ``tool`` with exactly ``args`` and no result."""
        try:
            args_sha = sha256_json(args)
        except (TypeError, ValueError):
            return None
        with self._lock:
            for call_id, prepared in self._open.items():
                if prepared.call.tool == tool and prepared.args_sha256 == args_sha:
                    return call_id
        return None

    def record_result(
        self,
        call_id: str,
        *,
        value: Any = None,
        error: str | None = None,
        code: str | None = None,
    ) -> CallResult:
        """Log what became of a call ``propose`` let through: its ``result`` event.

        Args:
            call_id: the call's id (``result.receipt.call_id`` or ``open_call``).
            value: what the tool returned; only its digest is logged.
            error: why the tool failed, if it did.
            code: the failure's code (default ``E-TOOL-FAILED``).

        Raises:
            UsageError: no open call has this id here (``E-CALL-UNKNOWN``).
        """
        with self._lock:
            prepared = self._open.pop(call_id, None)
        if prepared is None:
            msg = f"run {self.id} has no open call {call_id!r} waiting for a result"
            raise UsageError(msg, code="E-CALL-UNKNOWN")
        exc = None if error is None else ToolFailed(error, code=code)
        return self._finish(prepared, value, exc)

    def refuse(
        self,
        tool: str,
        args: JSONObject | None,
        *,
        rule: str,
        reason: str,
        code: str = "E-DENIED",
        context: JSONObject | None = None,
    ) -> CallResult:
        """Log a call that a front door refuses before the policy sees it.

        The MCP gateway withholds an upstream tool whose definition changed since
        it was pinned; a call to it is still a decision on record (outcome
        ``deny``, this ``rule`` and ``reason``) and counts as a denial.

        Raises:
            UsageError: the run has ended (``E-RUN-ENDED``).
        """
        with self._lock:
            record = self._outside("deny", tool, args, rule, reason, context)
            self.state.denials += 1
            try:
                return record.refused(code)
            except AuditUnavailable as exc:
                return record.unlogged(exc)

    def admit(
        self,
        tool: str,
        args: JSONObject | None,
        *,
        rule: str,
        reason: str,
        context: JSONObject | None = None,
    ) -> CallResult:
        """Log a call that a front door lets through by a rule of its own.

        The MCP gateway reads a resource or gets a prompt that an upstream's
        ``resources`` or ``prompts`` allow: not a tool call for the policy, but
        still a decision on record (outcome ``allow``, this ``rule``), committed
        before it runs. As with ``propose``, an admitted call comes back
        ``dispatched`` and its result goes to ``record_result``; it counts toward
        no tool limit. A killed run refuses it (``E-RUN-KILLED``), and a log that
        cannot be written refuses it too.

        Raises:
            UsageError: the run has ended (``E-RUN-ENDED``).
        """
        with self._lock:
            record = self._outside("allow", tool, args, rule, reason, context)
            acted = record.act(None)
        if isinstance(acted, CallResult):
            return acted
        self._open[acted.call.call_id] = acted
        return CallResult(
            status="dispatched",
            decision=acted.decision,
            receipt=Receipt(
                call_id=acted.call.call_id,
                run_id=self.id,
                tool=tool,
                args_sha256=acted.args_sha256,
                disposition="dispatched",
                event_seq=acted.appended.seq if acted.appended else 0,
                event_hash=acted.appended.hash if acted.appended else "",
                latency_us=(time.perf_counter_ns() - acted.started_ns) // 1000,
            ),
        )

    def _outside(
        self,
        outcome: Literal["allow", "deny"],
        tool: str,
        args: JSONObject | None,
        rule: str,
        reason: str,
        context: JSONObject | None,
    ) -> _Record:
        """A call decided by a front door's rule, not the policy (lock held)."""
        started = time.perf_counter_ns()
        raw_args: Any = {} if args is None else args
        if self.status == "completed":
            msg = f"run {self.id} has ended; start a new run"
            raise UsageError(msg, code="E-RUN-ENDED")
        try:
            args_sha = sha256_json(raw_args)
            ctx_json = canonical_json(context) if context else b"{}"
        except (TypeError, ValueError):
            raw_args = {"_unloggable": repr(raw_args)[:200]}
            args_sha, ctx_json = sha256_json(raw_args), b"{}"
        call = ToolCall.model_construct(
            tool=tool, args=raw_args, context={}, call_id=_call_ids.next()
        )
        kind: Literal["allow", "deny", "kill"] = outcome
        if outcome == "allow" and self.status == "killed":
            kind, rule = "kill", "run.killed"
            reason = f"run was killed: {self.state.killed}"
        decision = Decision(
            outcome=kind,
            rule=rule,
            reason=reason,
            tool=tool,
            manifest_sha256=self._enc.policy.manifest_sha256,
        )
        return _Record(
            self,
            call,
            decision,
            validator=ValidatorResult(ok=True),
            args_sha256=args_sha,
            ctx_json=ctx_json,
            started_ns=started,
        )

    def _remember(self, receipt: Receipt, decision: Decision) -> None:
        call = ToolCall.model_construct(
            tool=receipt.tool, args={}, context={}, call_id=receipt.call_id
        )
        self._open[receipt.call_id] = _Prepared(
            call, decision, receipt.args_sha256, time.perf_counter_ns()
        )

    def restore(
        self,
        status: RunStatus,
        killed: str | None,
        started_at: float,
        events: Iterable[Event],
    ) -> None:
        """Rebuild this run's state from its record and its logged events.

        ``Enclosure.resume_run`` calls it for a run another process started: the
        counters, rate windows and repeated-call signatures of the kill switch
        come back as the decisions left them (see ``Policy.recount``), and calls
        let through without a result yet can still get one. Event times move
        onto this process's monotonic clock through the wall clock.
        """
        enc, state = self._enc, self.state
        mono, wall = enc.clock.monotonic(), enc.clock.time()
        self.status = status
        state.killed = killed if status == "killed" else None
        state.started = mono - (wall - started_at)
        self._fold(events)

    @contextlib.contextmanager
    def exclusively(self) -> Iterator[None]:
        """Decide this run's calls here alone, in step with other processes.

        For servers that share one database and take calls of the same run: the
        run's lock (``DecisionLog.run_lock``) is held for the block, and first the
        decisions and results other processes logged for the run since this
        object last knew the log are counted in (``restore`` does the same for
        a whole run), so rate limits, counters and the kill switch hold across
        all of them together. Every call of the run, in every process, must be
        made in such a block once any is: one made outside it is counted twice.

        Raises:
            AuditUnavailable: the lock cannot be taken or the log read; the
                block does not run.
        """
        log = self._enc.log
        with log.run_lock(self.id):
            if log.run_head(self.id, after=self._synced) > self._synced:
                newer = log.events(
                    run_id=self.id, kinds=("decision", "result"), after_seq=self._synced
                )
                with self._lock:
                    self._fold(
                        (stored.event for stored in newer), not_before=self._looked
                    )
                self._synced = max([self._synced] + [stored.seq for stored in newer])
            try:
                yield
            finally:
                try:
                    # Under the lock only this block wrote the run's decisions.
                    looked = self._enc.clock.monotonic()
                    self._synced = log.run_head(self.id, after=self._synced)
                    self._looked = looked
                except AuditUnavailable:
                    # The next block counts this one's calls again: stricter.
                    logger.exception("run %s: cannot read where it ends", self.id)

    def _fold(
        self, events: Iterable[Event], *, not_before: float | None = None
    ) -> None:
        """Count logged decision and result events of this run into its state.

        An event's time comes from the clock of the process that logged it, moved
        onto this one's through the wall clock; so a clock that differs shifts it.
        It is held within what is known for sure: not after now (it is stored),
        and not before ``not_before`` (stored after this run last looked, see
        ``exclusively``), and a shift beyond those bounds is warned of once. That
        only narrows the error: when this run last looked long ago (or, in
        ``restore``, never), a lagging clock still ages calls out of a window
        early. Servers sharing a database need agreeing clocks (the README).
        """
        enc, state = self._enc, self.state
        mono, wall = enc.clock.monotonic(), enc.clock.time()
        for event in events:
            at = mono - (wall - datetime.fromisoformat(event.ts).timestamp())
            if at > mono:
                if at > mono + SKEW_WARN_S:
                    self._tell_skew(at - mono)
                at = mono
            elif not_before is not None and at < not_before:
                if at < not_before - SKEW_WARN_S:
                    self._tell_skew(at - not_before)
                at = not_before
            if isinstance(event, DecisionEvent):
                call = ToolCall.model_construct(
                    tool=event.tool, args=event.args, context={}, call_id=event.call_id
                )
                enc.policy.recount(
                    call,
                    state,
                    at,
                    outcome=event.outcome,
                    args_sha256=event.args_sha256,
                )
                if event.disposition == "simulated":
                    state.simulated += 1
                if event.disposition in ("dispatched", "pending"):
                    decision = Decision.model_construct(
                        outcome=event.outcome,
                        rule=event.rule,
                        reason=event.reason,
                        tool=event.tool,
                        manifest_sha256=event.manifest_sha256,
                        cost=event.cost,
                    )
                    self._open[event.call_id] = _Prepared(
                        call, decision, event.args_sha256, time.perf_counter_ns()
                    )
            elif isinstance(event, ResultEvent):
                self._open.pop(event.call_id, None)
                ok = event.disposition == "executed"
                enc.policy.record_result(state, ok=ok, cost=event.cost)

    def _tell_skew(self, seconds: float) -> None:
        if self._skew_told:
            return
        self._skew_told = True
        logger.warning(
            "run %s: an event another process logged is dated %+.1f s from where "
            "it can be on this clock; servers sharing a database need synchronised "
            "clocks (counted as of the nearest time it can have)",
            self.id,
            seconds,
        )

    def resume(
        self, approval_id: str, *, handler: Callable[..., Any] | None = None
    ) -> CallResult:
        """Run a call parked for approval in this process, once it is approved.

        Args:
            approval_id: the approval the parked call waits for.
            handler: runs the call instead of the tool's registered handler, as
                in ``call`` (the function an integration guarded).

        Raises:
            ApprovalError: the approval is not one this run parked
                (``E-APPROVAL-NOT-FOUND``); after a restart, call again with the
                same arguments and ``approval_id``.
            UsageError: nothing could run the call (``E-TOOL-NO-HANDLER``,
                ``E-TOOL-ASYNC``); the approval is left unused.
        """
        call = self._parked.get(approval_id)
        if call is None:
            msg = (
                f"approval {approval_id} was not parked by this run in this process; "
                "call the tool again with the same arguments and approval_id"
            )
            raise ApprovalError(msg, code="E-APPROVAL-NOT-FOUND")
        self._enc.router.ensure_runnable(
            call.tool, command=self.workspace.run_command, handler=handler, sync=True
        )
        return self.call(
            call.tool,
            call.args,
            context=call.context,
            approval_id=approval_id,
            handler=handler,
        )

    def parked_approval(self, tool: str, args: JSONObject) -> str | None:
        """The approval this process parked for exactly this call, unless spent.

        An integration whose model retries a parked call (same tool, same
        arguments) passes it as ``approval_id``: once a human approves, the call
        runs exactly once; before, the retry reads that it is still pending;
        denied, that it is denied. A consumed or expired one is not returned, so
        the next identical call asks a human again.
        """
        with self._lock:
            parked = [(a, c) for a, c in self._parked.items() if c.tool == tool]
        if not parked:
            return None
        probe = ToolCall.model_construct(tool=tool, args=args, context={}, call_id="")
        checked = self._enc.router.check_args(probe)
        try:
            binding = binding_sha256(self.id, tool, checked.value)
        except (TypeError, ValueError):
            return None
        for approval_id, call in parked:
            if binding_sha256(self.id, tool, call.args) != binding:
                continue
            try:
                status = self._enc.approvals.get(approval_id).status
            except ApprovalError:
                continue
            if status in ("pending", "approved", "denied"):
                return approval_id
        return None

    @property
    def enclosure(self) -> Enclosure:
        """The enclosure this run belongs to: its router, approvals and log."""
        return self._enc

    def refresh(self) -> RunStatus:
        """Take on a kill or end another process logged for this run; its status.

        One indexed check (``DecisionLog.run_closed``). Every action of a run
        does it already; an integration calls it where the framework goes on
        without one (before a model call), so a run killed elsewhere stops there
        too: its sandbox killed, its kill hooks called, as for a kill made here.

        Raises:
            AuditUnavailable: the log cannot be read.
        """
        if self.status == "running" and self._enc.log.run_closed(self.id):
            self._adopt_close()
        return self.status

    def ensure_running(self) -> None:
        """Raise unless the run can still act.

        Raises:
            RunKilled: the run was killed (``E-RUN-KILLED``).
            UsageError: the run has ended (``E-RUN-ENDED``).
        """
        if self.status == "killed":
            msg = f"run {self.id} was killed: {self.state.killed}"
            raise RunKilled(msg)
        if self.status != "running":
            msg = f"run {self.id} has ended; start a new run"
            raise UsageError(msg, code="E-RUN-ENDED")

    def kill(
        self,
        reason: str,
        *,
        rule: str = "manual",
        call_id: str | None = None,
        by: str | None = None,
    ) -> None:
        """Kill the run: every later call is refused and kill hooks fire once.

        A command running in the run's sandbox is killed at once, whole tree.
        ``by`` names the person who killed it, in the ``KillEvent``.
        """
        with self._lock:
            if self.status != "running":
                return
            self.status = "killed"
            self.state.killed = reason
        self.workspace.kill()
        ts = iso(self._enc.clock.time())
        log = self._enc.log
        try:
            try:
                log.append(
                    KillEvent(
                        run_id=self.id,
                        ts=ts,
                        rule=rule,
                        reason=reason,
                        call_id=call_id,
                        by=by,
                    ),
                    live=True,  # killed or ended elsewhere first: take that on
                )
            except RunClosed:
                self._adopt_close(instead_of="killed")
                return
            log.append(
                AlertEvent(
                    run_id=self.id,
                    ts=ts,
                    severity="critical",
                    rule=rule,
                    message=f"run {self.id} ({self.agent}) killed: {reason}",
                )
            )
            self._close_workspace()
            self._end_record("killed", reason)
        except AuditUnavailable:
            logger.exception("run %s killed but the kill could not be logged", self.id)
        self._killed(reason)

    def _killed(self, reason: str) -> None:
        """Say the run was killed and call the kill hooks, each once."""
        logger.warning("ALERT: run %s (%s) killed: %s", self.id, self.agent, reason)
        for hook in (*self._enc.kill_hooks, *self._kill_hooks):
            try:
                hook(self, reason)
            except Exception:  # one failing hook must not stop the others
                logger.exception("kill hook %r failed for run %s", hook, self.id)

    def _adopt_close(self, *, instead_of: RunStatus = "running") -> None:
        """Take on the kill or end that another process recorded for this run.

        An action of this run found it in the log (``RunClosed``): this process
        stops the run's sandbox, closes its workspace and calls its kill hooks, as
        if the run had been killed (or ended) here. Nothing is logged again.
        ``instead_of`` is the status a local kill or end set just before it found
        that the other process came first; the run takes the earlier close on.
        """
        stored = self._enc.log.closing_event(self.id)
        event = None if stored is None else stored.event
        ended = isinstance(event, RunEndedEvent) and event.status == "completed"
        if isinstance(event, KillEvent):
            reason = event.reason
        else:
            reason = "the run was closed by another process"
        with self._lock:
            if self.status != instead_of:
                return
            self.status = "completed" if ended else "killed"
            if not ended:
                self.state.killed = reason
        if not ended:
            self.workspace.kill()
        try:
            self._close_workspace()
        except AuditUnavailable:
            logger.exception("run %s: its workspace closed off the record", self.id)
        if not ended:
            self._killed(reason)

    def end(self) -> None:
        """Close the run normally; a killed run stays killed.

        A run another process killed or ended first takes that on instead.
        """
        with self._lock:
            if self.status != "running":
                return
            self.status = "completed"
        self._close_workspace()
        try:
            self._end_record("completed", None, live=True)
        except RunClosed:
            self._adopt_close(instead_of="completed")

    def _close_workspace(self) -> None:
        try:
            self.workspace.close()
        except AuditUnavailable:
            raise
        except (OSError, EnclosureError):
            # The run still ends; the quarantine stays on disk for a later scan.
            logger.exception("run %s: its sandbox or quarantine did not close", self.id)

    # ---- the call path ----------------------------------------------------------

    def _prepare(
        self,
        tool: str,
        args: JSONObject | None,
        context: JSONObject | None,
        approval_id: str | None,
        approval_key: str | None = None,
    ) -> CallResult | _Prepared:
        started = time.perf_counter_ns()
        enc = self._enc
        call_id = _call_ids.next()
        raw_args: Any = {} if args is None else args
        ctx = context or {}
        with self._lock:
            if self.status == "completed":
                msg = f"run {self.id} has ended; start a new run"
                raise UsageError(msg, code="E-RUN-ENDED")
            invalid: str | None = None
            try:
                args_sha = sha256_json(raw_args)
                ctx_json = canonical_json(ctx) if ctx else b"{}"
            except (TypeError, ValueError) as exc:
                args_sha, ctx_json = sha256_json(repr(raw_args)), b"{}"
                invalid = f"arguments and context must be JSON ({exc})"
            if invalid is None and not isinstance(raw_args, dict):
                invalid = "arguments must be a JSON object"
            if invalid is not None:
                raw_args = {"_unloggable": repr(raw_args)[:200]}
            call = trusted(
                ToolCall, tool=tool, args=raw_args, context=ctx, call_id=call_id
            )
            # Its own each time: ``errors`` is a list an observer could append to.
            validator = trusted(ValidatorResult, ok=True, errors=[])
            if invalid is None:
                checked = enc.router.check_args(call)
                if checked.ok:  # the same arguments, or with defaults filled in
                    call = (
                        call
                        if checked.value is raw_args
                        else trusted(
                            ToolCall,
                            tool=tool,
                            args=checked.value,
                            context=ctx,
                            call_id=call_id,
                        )
                    )
                else:
                    invalid = "; ".join(checked.errors)
                    validator = ValidatorResult(ok=False, errors=checked.errors)
            else:
                validator = ValidatorResult(ok=False, errors=[invalid])
            held = None  # an approval that cannot release the call: why
            if self.status == "killed":
                decision = Decision(
                    outcome="kill",
                    rule="run.killed",
                    reason=f"run was killed: {self.state.killed}",
                    tool=tool,
                    manifest_sha256=enc.policy.manifest_sha256,
                )
            elif (
                approval_id is not None
                and invalid is None
                and (held := self._unusable_approval(approval_id, call))
            ):
                # Decided without the policy: a retry that cannot run uses no rate
                # window (counted as a replay counts it), whatever its limits.
                decision = held[0]
                enc.policy.recount(
                    call,
                    self.state,
                    enc.clock.monotonic(),
                    outcome=decision.outcome,
                    args_sha256=args_sha,
                )
            else:
                decision = enc.policy.decide(
                    call,
                    self.state,
                    enc.clock.monotonic(),
                    approved=approval_id is not None,
                    invalid=invalid,
                    args_sha256=args_sha,
                )
                decision = enc.policy.cap(
                    decision,
                    stage=enc.ladder.stage(tool),
                    shadow=self.shadow,
                    approved=approval_id is not None,
                )
            record = _Record(
                self,
                call,
                decision,
                validator=validator,
                args_sha256=args_sha,
                ctx_json=ctx_json,
                started_ns=started,
                approval_key=approval_key,
            )
            if held:
                return record.held(held[1], held[2])
            return record.act(approval_id)

    def _unusable_approval(
        self, approval_id: str, call: ToolCall
    ) -> tuple[Decision, Approval | None, str] | None:
        """Why ``approval_id`` cannot release ``call`` now, if it cannot.

        The decision, the approval when it is still pending, and the code;
        ``None`` when it is approved for exactly these arguments (the policy
        decides, and consuming the approval checks all of it again atomically).
        A retry with a pending, decided, spent or foreign approval runs nothing,
        so it must not take a rate-limit slot (nor trip ``on_exceed: kill``).
        """
        enc = self._enc
        binding = binding_sha256(self.id, call.tool, call.args)
        rule = "approval"
        try:
            approval = enc.approvals.get(approval_id)
        except ApprovalError as exc:
            why, code = exc.message, exc.code
        else:
            rule = approval.rule
            if approval.binding_sha256 != binding:
                why = f"approval {approval_id!r} is bound to other arguments"
                code = "E-APPROVAL-MISMATCH"
            elif approval.status == "approved":
                return None
            elif approval.status == "pending":
                waiting = Decision(
                    outcome="approve",
                    rule=rule,
                    reason=approval.reason,
                    tool=call.tool,
                    manifest_sha256=enc.policy.manifest_sha256,
                )
                return waiting, approval, "E-APPROVAL-PENDING"
            elif approval.status == "expired":
                why = f"approval {approval_id!r} has expired"
                code = "E-APPROVAL-EXPIRED"
            else:
                why = f"approval {approval_id!r} is {approval.status}"
                code = "E-APPROVAL-NOT-APPROVED"
        denial = Decision(
            outcome="deny",
            rule=rule,
            reason=f"approval {approval_id} cannot be used: {why}",
            tool=call.tool,
            manifest_sha256=enc.policy.manifest_sha256,
        )
        return denial, None, code

    def _finish(
        self,
        prepared: _Prepared,
        value: Any,
        exc: BaseException | None,
        *,
        checked: bool = True,
    ) -> CallResult:
        enc = self._enc
        handler_us = (time.perf_counter_ns() - prepared.started_ns) // 1000
        call, decision = prepared.call, prepared.decision
        error: ErrorInfo | None = None
        output_sha: str | None = None
        if exc is not None:
            code = exc.code if isinstance(exc, EnclosureError) else "E-TOOL-FAILED"
            if isinstance(exc, EnclosureError):  # its code is in ``code`` already
                detail = exc.message
            else:
                detail = str(exc).splitlines()[0] if str(exc) else ""
            message = enc.redactor.redact_text(f"{type(exc).__name__}: {detail}")[:500]
            error = ErrorInfo(code=code, message=message)
            value = None
        else:
            # No route: admitted by a front door.
            route = enc.router.route(call.tool) if checked else None
            check = route.result.check(value) if route is not None else None
            if check is not None and not check.ok:
                # The errors name where and which constraint failed, never the
                # value; the redactor still runs over them (keys are text too).
                where = enc.redactor.redact_text("; ".join(check.errors))
                error = ErrorInfo(
                    code="E-RESULT-INVALID",
                    message=f"tool result does not match its schema: {where}"[:500],
                )
                value = None
            else:
                try:
                    output_sha = sha256_hex(canonical_json(value))
                except (TypeError, ValueError):
                    output_sha = sha256_hex(repr(value).encode("utf-8"))
        disposition: Literal["executed", "failed"] = "failed" if error else "executed"
        with self._lock:
            enc.policy.record_result(self.state, ok=error is None, cost=decision.cost)
            if error is None:
                enc.policy.remember(self.state, call.tool, value)
        receipt_body: dict[str, Any] | None = (
            {"output_sha256": output_sha} if output_sha else None
        )
        if (sandbox := self.workspace.pop_receipt(call.call_id)) is not None:
            receipt_body = {**(receipt_body or {}), "sandbox": sandbox}
        try:
            appended = enc.log.append(
                trusted(  # in field order; every value made or checked here
                    ResultEvent,
                    run_id=self.id,
                    ts=iso(enc.clock.time()),
                    kind="result",
                    call_id=call.call_id,
                    tool=call.tool,
                    disposition=disposition,
                    receipt=receipt_body,
                    error=error,
                    latency_us=handler_us,
                    cost=decision.cost,
                )
            )
        except AuditUnavailable as audit_exc:
            # The tool has run; its decision event is on record. Stop the run so
            # nothing further happens while the log cannot be written.
            logger.exception("result of call %s could not be logged", call.call_id)
            self.kill(f"decision log unavailable: {audit_exc.message}", rule="audit")
            return CallResult(
                status=disposition,
                decision=decision,
                value=value,
                error=error
                or ErrorInfo(code=audit_exc.code, message=audit_exc.message),
            )
        receipt = trusted(
            Receipt,
            call_id=call.call_id,
            run_id=self.id,
            tool=call.tool,
            args_sha256=prepared.args_sha256,
            disposition=disposition,
            event_seq=appended.seq,
            event_hash=appended.hash,
            latency_us=handler_us,
            output_sha256=output_sha,
            sandbox=sandbox,
        )
        return trusted(
            CallResult,
            status=disposition,
            decision=decision,
            value=value,
            receipt=receipt,
            error=error,
            approval_id=None,
        )

    def _end_record(
        self,
        status: Literal["completed", "killed"],
        reason: str | None,
        *,
        live: bool = False,
    ) -> None:
        enc, st = self._enc, self.state
        enc.log.append(
            anchor=True,
            live=live,
            event=RunEndedEvent(
                run_id=self.id,
                ts=iso(enc.clock.time()),
                status=status,
                calls=st.calls,
                cost=st.cost,
                denials=st.denials,
                errors=st.errors,
            ),
        )
        enc.log.end_run(
            self.id, status=status, ended_at=enc.clock.time(), reason=reason
        )
        enc.log.checkpoint(self.id)  # every run ends under a signed tree head


class _Record:
    """Logs one decided call and turns the decision into a result or a plan."""

    def __init__(
        self,
        run: Run,
        call: ToolCall,
        decision: Decision,
        *,
        validator: ValidatorResult,
        args_sha256: str,
        ctx_json: bytes,
        started_ns: int,
        approval_key: str | None = None,
    ) -> None:
        self.run = run
        self.enc = run._enc  # noqa: SLF001 -- a helper of Run, in its module
        self.call = call
        self.decision = decision
        self.validator = validator
        self.args_sha256 = args_sha256
        self.ctx_json = ctx_json
        self.started_ns = started_ns
        self.approval_key = approval_key

    def act(self, approval_id: str | None) -> CallResult | _Prepared:
        outcome = self.decision.outcome
        try:
            if outcome == "kill":
                return self._kill()
            if outcome == "deny":
                code = "E-DENIED" if self.validator.ok else "E-ARGS-INVALID"
                return self._blocked(code)
            if outcome == "approve":
                return self._park()
            if outcome == "simulate":
                return self._simulate()
            return self._dispatch(approval_id)
        except AuditUnavailable as exc:
            return self._unlogged(exc)

    def held(self, waiting: Approval | None, code: str) -> CallResult:
        """Answer a call whose approval cannot release it (``_unusable_approval``)."""
        try:
            if waiting is not None:
                return self._still_pending(waiting)
            return self._blocked(code)
        except AuditUnavailable as exc:
            return self._unlogged(exc)

    def _dispatch(self, approval_id: str | None) -> CallResult | _Prepared:
        """Store the decision that lets the call run, unless its run is over."""
        if self.decision.via_approval:
            if self.enc.log.run_closed(self.run.id):
                return self._closed_elsewhere()  # keep the approval unused
            refused = self._consume(approval_id)
            if refused is not None:
                return refused
        used = approval_id if self.decision.via_approval else None
        try:
            appended = self.enc.log.append(
                self._event("dispatched", approval_id=used), live=True
            )
        except RunClosed:
            return self._closed_elsewhere()
        if self.run.status == "killed":
            # Killed while its decision was stored: by a detector that saw this
            # very event (observers run inside ``append``), or by another thread.
            # Either way the call must not run.
            return self._stopped()
        return _Prepared(
            self.call,
            self.decision,
            self.args_sha256,
            time.perf_counter_ns(),
            appended,
        )

    def _closed_elsewhere(self) -> CallResult:
        """Refuse a call whose run another process killed or ended meanwhile."""
        run = self.run
        run._adopt_close()  # noqa: SLF001 -- Run's helper
        if run.status == "completed":
            msg = f"run {run.id} has ended; start a new run"
            raise UsageError(msg, code="E-RUN-ENDED")
        self.decision = Decision(
            outcome="kill",
            rule="run.killed",
            reason=f"run was killed: {run.state.killed}",
            tool=self.call.tool,
            manifest_sha256=self.decision.manifest_sha256,
        )
        return self._kill()

    def _event(
        self,
        disposition: Disposition,
        *,
        approval_id: str | None = None,
        receipt: JSONObject | None = None,
        error: ErrorInfo | None = None,
        decision: Decision | None = None,
    ) -> DecisionEvent:
        enc, run, d = self.enc, self.run, decision or self.decision
        excerpt = enc.redactor.redact_text(self.ctx_json.decode("utf-8"))
        return trusted(  # in field order
            DecisionEvent,
            run_id=run.id,
            ts=iso(enc.clock.time()),
            kind="decision",
            call_id=self.call.call_id,
            tool=self.call.tool,
            args=_bounded(enc.redactor.redact(self.call.args)),
            args_sha256=self.args_sha256,
            context_sha256=sha256_hex(self.ctx_json),
            context_excerpt=excerpt[:EXCERPT_CHARS],
            agent=run.agent,
            model=run.model,
            prompt_version=run.prompt_version,
            validator=self.validator,
            outcome=d.outcome,
            rule=d.rule,
            reason=d.reason,
            disposition=disposition,
            approval_id=approval_id,
            receipt=receipt,
            error=error,
            latency_us=(time.perf_counter_ns() - self.started_ns) // 1000,
            cost=d.cost,
            manifest_sha256=d.manifest_sha256,
        )

    def _result(
        self,
        status: Disposition,
        *,
        error: ErrorInfo | None = None,
        value: Any = None,
        approval_id: str | None = None,
        decision: Decision | None = None,
        receipt: JSONObject | None = None,
        live: bool = False,
    ) -> CallResult:
        d = decision or self.decision
        appended = self.enc.log.append(
            self._event(
                status,
                approval_id=approval_id,
                receipt=receipt,
                error=error,
                decision=d,
            ),
            live=live,
        )
        return CallResult(
            status=status,
            decision=d,
            value=value,
            error=error,
            approval_id=approval_id,
            receipt=Receipt(
                call_id=self.call.call_id,
                run_id=self.run.id,
                tool=self.call.tool,
                args_sha256=self.args_sha256,
                disposition=status,
                event_seq=appended.seq,
                event_hash=appended.hash,
                latency_us=(time.perf_counter_ns() - self.started_ns) // 1000,
                output_sha256=(receipt or {}).get("output_sha256"),
            ),
        )

    def refused(self, code: str) -> CallResult:
        """Log this (already denied) call as blocked with ``code``."""
        return self._blocked(code)

    def unlogged(self, exc: AuditUnavailable) -> CallResult:
        """The answer when the decision itself could not be logged."""
        return self._unlogged(exc)

    def _blocked(self, code: str, decision: Decision | None = None) -> CallResult:
        d = decision or self.decision
        return self._result(
            "blocked", error=ErrorInfo(code=code, message=d.reason), decision=d
        )

    def _kill(self) -> CallResult:
        d = self.decision
        error = ErrorInfo(code="E-RUN-KILLED", message=d.reason)
        result = self._result("killed", error=error)
        if self.run.status == "running":
            self.run.kill(d.reason, rule=d.rule, call_id=self.call.call_id)
        return result

    def _stopped(self) -> CallResult:
        """Close a dispatched call that will not run because its run was killed."""
        run, call = self.run, self.call
        error = ErrorInfo(
            code="E-RUN-KILLED", message=f"run was killed: {run.state.killed}"
        )
        appended = self.enc.log.append(
            ResultEvent(
                run_id=run.id,
                ts=iso(self.enc.clock.time()),
                call_id=call.call_id,
                tool=call.tool,
                disposition="failed",
                error=error,
                latency_us=0,
                cost=0.0,
            )
        )
        return CallResult(
            status="killed",
            decision=self.decision,
            error=error,
            receipt=Receipt(
                call_id=call.call_id,
                run_id=run.id,
                tool=call.tool,
                args_sha256=self.args_sha256,
                disposition="killed",
                event_seq=appended.seq,
                event_hash=appended.hash,
                latency_us=(time.perf_counter_ns() - self.started_ns) // 1000,
            ),
        )

    def _park(self) -> CallResult:
        enc, run, call = self.enc, self.run, self.call
        if enc.log.run_closed(run.id):
            return self._closed_elsewhere()  # no approval asked for a dead run
        approval = enc.approvals.request(
            run_id=run.id,
            tool=call.tool,
            args=_bounded(enc.redactor.redact(call.args)),
            binding_sha256=binding_sha256(run.id, call.tool, call.args),
            rule=self.decision.rule,
            reason=self.decision.reason,
            ttl=enc.manifest.approvals.ttl,
            requested_by=run.started_by,
            approval_id=_keyed_approval(run.id, self.approval_key),
        )
        run._parked[approval.approval_id] = call  # noqa: SLF001 -- Run's helper
        error = ErrorInfo(
            code="E-APPROVAL-PENDING",
            message=f"{self.decision.reason}; waiting for {approval.approval_id}",
        )
        try:
            return self._result(
                "pending", error=error, approval_id=approval.approval_id, live=True
            )
        except RunClosed:  # killed since the check: the approval just expires
            return self._closed_elsewhere()

    def _simulate(self) -> CallResult:
        try:
            value = self.enc.router.simulate(self.call)
            output_sha = sha256_hex(canonical_json(value))
        except (TypeError, ValueError) as exc:
            error = ErrorInfo(
                code="E-SIMULATOR-FAILED", message=f"{type(exc).__name__}: {exc}"
            )
            return self._result("failed", error=error)
        run, enc = self.run, self.enc
        with run._lock:  # noqa: SLF001 -- Run's helper
            run.state.simulated += 1
            enc.policy.remember(run.state, self.call.tool, value)
        try:
            result = self._result(
                "simulated",
                value=value,
                receipt={"output_sha256": output_sha},
                live=True,
            )
        except RunClosed:
            return self._closed_elsewhere()
        if run.shadow or self.decision.rule.startswith("ladder."):
            enc.log.append(
                ShadowEvent(
                    run_id=run.id,
                    ts=iso(enc.clock.time()),
                    call_id=self.call.call_id,
                    case_id=run.task,
                    tool=self.call.tool,
                    args=enc.redactor.redact(self.call.args),
                )
            )
        return result

    def _consume(self, approval_id: str | None) -> CallResult | None:
        enc, run, call = self.enc, self.run, self.call
        assert approval_id is not None  # noqa: S101 -- via_approval implies it
        binding = binding_sha256(run.id, call.tool, call.args)
        try:
            approval = enc.log.consume_approval(
                approval_id, binding_sha256=binding, now=enc.clock.time()
            )
        except ApprovalError as exc:
            if exc.code == "E-APPROVAL-NOT-APPROVED":
                waiting = self._pending(approval_id)
                if waiting is not None:
                    return self._still_pending(waiting)
            run.state.denials += 1
            d = self.decision.model_copy(
                update={
                    "outcome": "deny",
                    "reason": f"approval {approval_id} cannot be used: {exc.message}",
                    "via_approval": False,
                    "cost": 0.0,
                }
            )
            self.decision = d
            return self._blocked(exc.code, d)
        enc.log.append(
            ApprovalEvent(
                run_id=run.id,
                ts=iso(enc.clock.time()),
                approval_id=approval.approval_id,
                action="consumed",
                tool=call.tool,
                binding_sha256=binding,
                by=approval.decided_by,
            )
        )
        run._parked.pop(approval_id, None)  # noqa: SLF001 -- Run's helper
        return None

    def _pending(self, approval_id: str) -> Approval | None:
        """The approval, if no human has decided it yet."""
        try:
            approval = self.enc.approvals.get(approval_id)
        except ApprovalError:
            return None
        return approval if approval.status == "pending" else None

    def _still_pending(self, approval: Approval) -> CallResult:
        """A retry with an approval no human has decided yet: not a denial.

        Logged as the same wait (``pending``, the same approval id, no new
        request), so the model reads that it is still pending and a polite
        retry never counts toward ``max_denials``.
        """
        self.decision = self.decision.model_copy(
            update={
                "outcome": "approve",
                "reason": approval.reason or self.decision.reason,
                "via_approval": False,
                "cost": 0.0,
            }
        )
        error = ErrorInfo(
            code="E-APPROVAL-PENDING",
            message=f"{self.decision.reason}; still waiting for {approval.approval_id}",
        )
        try:
            return self._result(
                "pending", error=error, approval_id=approval.approval_id, live=True
            )
        except RunClosed:
            return self._closed_elsewhere()

    def _unlogged(self, exc: AuditUnavailable) -> CallResult:
        logger.error("call %s refused: %s", self.call.call_id, exc.message)
        d = self.decision
        if d.outcome not in ("deny", "kill"):
            d = d.model_copy(
                update={
                    "outcome": "deny",
                    "rule": "audit",
                    "reason": f"the decision log cannot be written, so nothing runs "
                    f"({exc.message})",
                    "cost": 0.0,
                }
            )
        return CallResult(
            status="killed" if d.outcome == "kill" else "blocked",
            decision=d,
            error=ErrorInfo(code=exc.code, message=exc.message),
        )
