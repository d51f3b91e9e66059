"""The maturity ladder and shadow evidence, read from and written to the log.

Each tool with a ``stage`` in the manifest sits on the ladder; a ``ladder`` event
in the log moves it (the latest one wins, so every process agrees). Promotion
checks the manifest's gate against the evidence since the tool last moved;
demotion is immediate and automatic, by an observer on the log, after a kill, an
alert or too many denied approvals on a run that used the tool.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from enclosure._clock import iso
from enclosure._json import canonical_json
from enclosure.audit import (
    AlertEvent,
    AnomalyEvent,
    ApprovalEvent,
    DecisionEvent,
    EgressEvent,
    KillEvent,
    LadderEvent,
    OutcomeEvent,
    RunStartedEvent,
    ShadowEvent,
)
from enclosure.errors import AuditUnavailable, UsageError
from enclosure.shadow import (
    DEMOTED_TO,
    STAGES,
    Action,
    Call,
    Evidence,
    Request,
    compare,
    demotion,
    missing,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from enclosure.audit import Appended, DecisionLog, Event
    from enclosure.manifest import Gate, Manifest
    from enclosure.shadow import ShadowReport
    from enclosure.types import Clock

__all__ = ["Ladder", "ToolStatus", "import_outcomes", "observed", "shadow_report"]

logger = logging.getLogger("enclosure")

SYSTEM = "enclosure"
"""Who demotes automatically."""


class ToolStatus(NamedTuple):
    tool: str
    stage: int
    evidence: Evidence
    next_missing: list[str] | None
    """What promotion to the next stage lacks; None at stage 5."""


def shadow_actions(log: DecisionLog) -> tuple[list[Action], list[Action], set[str]]:
    """Proposed writes, imported outcomes and the tasks of runs, from the log."""
    proposed, actual, ran = [], [], set()
    for stored in log.events(kinds=("shadow", "outcome", "run_started")):
        e = stored.event
        if isinstance(e, ShadowEvent):
            proposed.append(Action(e.case_id, e.tool, e.args))
            ran.add(e.case_id)
        elif isinstance(e, OutcomeEvent):
            actual.append(Action(e.case_id, e.action, e.args))
        elif isinstance(e, RunStartedEvent):
            ran.add(e.task)
    return proposed, actual, ran


def shadow_report(log: DecisionLog) -> ShadowReport:
    """Compare every shadow case in the log with its imported outcome."""
    proposed, actual, ran = shadow_actions(log)
    outcome_cases = {a.case_id for a in actual}
    shadow_cases = {p.case_id for p in proposed}
    # A run that proposed nothing counts only if its case has an outcome.
    return compare(proposed, actual, (ran & outcome_cases) | shadow_cases)


def import_outcomes(
    log: DecisionLog, actions: list[Action], sources: list[str], clock: Clock
) -> int:
    """Append one ``outcome`` event per action not already in the log; how many.

    An action counts as already there when the log holds an outcome with the same
    case, action and arguments that no earlier action of this import matched, so
    importing a file again adds nothing, while a case where people did the same
    thing twice keeps both.
    """
    held: Counter[tuple[str, str, bytes]] = Counter()
    for stored in log.events(kinds=("outcome",)):
        e = stored.event
        if isinstance(e, OutcomeEvent):
            held[e.case_id, e.action, canonical_json(e.args)] += 1
    fresh: list[tuple[Action, str]] = []
    for action, source in zip(actions, sources, strict=True):
        key = (action.case_id, action.action, canonical_json(action.args))
        if held[key]:
            held[key] -= 1
        else:
            fresh.append((action, source))
    ts = iso(clock.time())
    log.append_many(
        OutcomeEvent(
            run_id="", ts=ts, case_id=a.case_id, action=a.action, args=a.args, source=s
        )
        for a, s in fresh
    )
    return len(fresh)


def observed(
    log: DecisionLog, run_ids: Iterable[str] | None = None
) -> tuple[list[Call], list[Request], int]:
    """Allowed calls and requests of the good runs (completed, never killed).

    ``run_ids`` limits them to those runs (each must be in the log and completed);
    by default every completed run counts.

    Raises:
        UsageError: a named run is not in the log (``E-RUN-UNKNOWN``) or did not
            complete (``E-SUGGEST-BAD-RUN``).
    """
    if run_ids is None:
        good = {
            r.run_id for r in log.list_runs(limit=100_000) if r.status == "completed"
        }
    else:
        good = set()
        for run_id in run_ids:
            record = log.get_run(run_id)
            if record is None:
                msg = f"run {run_id!r} is not in the decision log"
                raise UsageError(msg, code="E-RUN-UNKNOWN")
            if record.status != "completed":
                msg = (
                    f"run {run_id!r} is {record.status}, not completed: only good "
                    "runs may widen what the manifest is suggested to allow"
                )
                raise UsageError(msg, code="E-SUGGEST-BAD-RUN")
            good.add(run_id)
    calls, requests = [], []
    for stored in log.events(kinds=("decision", "egress")):
        e = stored.event
        if e.run_id not in good:
            continue
        if isinstance(e, DecisionEvent) and e.outcome == "allow":
            at = datetime.fromisoformat(e.ts).timestamp()
            calls.append(Call(e.run_id, e.tool, dict(e.args), at))
        elif isinstance(e, EgressEvent) and e.outcome == "allowed":
            requests.append(Request(e.run_id, e.principal, e.method, e.host, e.path))
    return calls, requests, len(good)


class Ladder:
    """Stages of the manifest's tools, as the log has moved them."""

    def __init__(
        self,
        log: DecisionLog,
        manifest: Manifest,
        clock: Clock,
        tools_of: Callable[[str], Iterable[str]] = lambda _run: (),
    ) -> None:
        self._log = log
        self._manifest = manifest
        self._clock = clock
        self._tools_of = tools_of
        self._stages = {
            name: spec.stage
            for name, spec in manifest.tools.items()
            if spec.stage is not None
        }
        self._since: dict[str, int] = {}
        self._seen = 0
        """The newest event of the log this ladder has taken into account."""
        self._ours: set[int] = set()
        """Events this process appended after ``_seen``: already observed."""
        if self._stages:
            for stored in log.events(kinds=("ladder",)):
                e = stored.event
                if isinstance(e, LadderEvent) and e.tool in self._stages:
                    self._stages[e.tool] = e.to_stage
                    self._since[e.tool] = stored.seq
            self._seen = log.head

    def _gate(self, stage: int) -> Gate | None:
        return self._manifest.ladder.gates.get(stage)

    def stage(self, tool: str) -> int | None:
        """The tool's stage now; None when it is not on the ladder.

        Other processes move tools too (``enclosure ladder promote``, a kill or
        a denied approval in another process), so for a tool on the ladder the
        log's newer events are taken into account first: a demotion anywhere
        holds here at the next call.

        Raises:
            AuditUnavailable: the log cannot be read (the call fails closed).
        """
        if tool not in self._stages:
            return None
        self._catch_up()
        return self._stages.get(tool)

    def _catch_up(self) -> None:
        kinds = ("ladder", "kill", "alert", "anomaly", "approval")
        newer = self._log.events(kinds=kinds, after_seq=self._seen)
        if not newer:
            return
        self._seen = max(self._seen, newer[-1].seq)
        # Appended here: the observer has seen them already.
        theirs = [stored for stored in newer if stored.seq not in self._ours]
        self._ours = {seq for seq in self._ours if seq > self._seen}
        # Their moves first, so an incident they already demoted for is not
        # demoted for again here; then the incidents nobody acted on.
        for stored in theirs:
            e = stored.event
            if isinstance(e, LadderEvent) and e.tool in self._stages:
                self._stages[e.tool] = e.to_stage
                self._since[e.tool] = stored.seq
        for stored in theirs:
            if not isinstance(stored.event, LadderEvent):
                self._observe(stored.event)

    def evidence(self, tool: str) -> Evidence:
        """What the log shows for ``tool`` since its last ladder event."""
        after = self._since.get(tool, 0)
        report = shadow_report(self._log)
        stats = report.actions.get(tool)
        approvals = rejected = incidents = 0
        used_by: set[str] = set()
        kinds = ("approval", "decision", "kill", "alert", "anomaly")
        for stored in self._log.events(kinds=kinds, after_seq=after):
            e = stored.event
            if isinstance(e, DecisionEvent) and e.tool == tool:
                used_by.add(e.run_id)
            elif isinstance(e, ApprovalEvent) and e.tool == tool:
                if e.action in ("approved", "denied"):
                    approvals += 1
                    rejected += e.action == "denied"
            elif isinstance(e, KillEvent | AnomalyEvent) and e.run_id in used_by:
                incidents += 1
        return Evidence(
            shadow_cases=stats.cases if stats else 0,
            agreed=stats.agreed if stats else 0,
            approvals=approvals,
            rejected=rejected,
            incidents=incidents,
        )

    def status(self) -> list[ToolStatus]:
        """Every tool on the ladder with its evidence and what the next step lacks."""
        out = []
        for tool, stage in self._stages.items():
            ev = self.evidence(tool)
            lacks = None
            if stage < max(STAGES):
                lacks = missing(self._gate(stage + 1), ev)
            out.append(ToolStatus(tool, stage, ev, lacks))
        return out

    def promote(self, tool: str, *, by: str) -> LadderEvent:
        """Move ``tool`` up one stage if its evidence passes the gate.

        Raises:
            UsageError: ``E-LADDER-UNKNOWN`` (not on the ladder), ``E-LADDER-TOP``
                (already at 5) or ``E-LADDER-EVIDENCE`` (naming what is missing).
        """
        stage = self._stages.get(tool)
        if stage is None:
            msg = f"tool {tool!r} has no 'stage' in the manifest"
            raise UsageError(msg, code="E-LADDER-UNKNOWN")
        if stage >= max(STAGES):
            raise UsageError(f"tool {tool!r} is at stage 5", code="E-LADDER-TOP")
        ev = self.evidence(tool)
        lacks = missing(self._gate(stage + 1), ev)
        if lacks:
            msg = (
                f"{tool} stays at stage {stage} ({STAGES[stage]}); stage "
                f"{stage + 1} needs: " + "; ".join(lacks)
            )
            raise UsageError(msg, code="E-LADDER-EVIDENCE")
        return self._move(
            tool, stage + 1, by=by, reason="evidence passed the gate", ev=ev
        )

    def demote(self, tool: str, reason: str, *, by: str = SYSTEM) -> LadderEvent | None:
        """Send ``tool`` back to shadow (stage 2) if it is above it."""
        stage = self._stages.get(tool)
        if stage is None or stage <= DEMOTED_TO:
            return None
        return self._move(tool, DEMOTED_TO, by=by, reason=reason, ev=None)

    def _move(
        self, tool: str, to: int, *, by: str, reason: str, ev: Evidence | None
    ) -> LadderEvent:
        before = self._stages[tool]
        evidence: dict[str, Any] = ev._asdict() if ev is not None else {}
        event = LadderEvent(
            run_id="",
            ts=iso(self._clock.time()),
            tool=tool,
            action="promoted" if to > before else "demoted",
            from_stage=before,
            to_stage=to,
            by=by,
            reason=reason,
            evidence=evidence,
        )
        appended = self._log.append(event)
        self._stages[tool] = to
        self._since[tool] = appended.seq
        return event

    def _tools_called(self, run_id: str) -> set[str]:
        """The tools ``run_id`` called: from this process, else from the log."""
        tools = set(self._tools_of(run_id))
        if not tools and run_id:
            tools = {
                stored.event.tool
                for stored in self._log.events(run_id=run_id, kinds=("decision",))
                if isinstance(stored.event, DecisionEvent)
            }
        return tools

    def observe(self, appended: Appended, event: Event) -> None:
        """Log observer: demote at once after an incident (never raises)."""
        if not self._stages:
            return
        self._ours.add(appended.seq)
        try:
            self._observe(event)
        except AuditUnavailable:
            logger.exception("a ladder demotion could not be logged")

    def _observe(self, event: Event) -> None:
        spec = self._manifest.ladder.demote
        if isinstance(event, KillEvent | AlertEvent | AnomalyEvent):
            kind = "kill" if isinstance(event, KillEvent) else "alert"
            why = demotion(spec, kind=kind)
            if why is not None:
                for tool in self._tools_called(event.run_id):
                    self.demote(tool, f"{why} (run {event.run_id})")
        elif (
            isinstance(event, ApprovalEvent)
            and event.action == "denied"
            and (self._stages.get(event.tool) or 0) > DEMOTED_TO
        ):
            ev = self.evidence(event.tool)
            why = demotion(
                spec, kind="approval", decided=ev.approvals, rejected=ev.rejected
            )
            if why is not None:
                self.demote(event.tool, why)
