"""Runs: the ``runs`` table, and each run's counts summed from its events.

``RunTable`` holds the SQL behind ``DecisionLog``'s run methods, which document the
contract; it shares the log's ``Database`` and its fail-closed guard.

Must not know: the hash chain, approvals, or how the database was opened.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from enclosure.audit._schema import events_table, of_kinds, runs_table
from enclosure.errors import UsageError
from enclosure.types import RunStatus

if TYPE_CHECKING:
    from enclosure.audit._database import Database

__all__ = ["RunRecord", "RunTable", "seen_names"]

_E = events_table.c
_R = runs_table.c


class RunRecord(BaseModel):
    """A run and what happened in it, counted from its events in the log.

    Counts come from decision events (one per call) and result events (one per live
    call that ran): ``calls`` counts decisions; ``executed`` and ``failed`` count
    either kind with that disposition; ``denied``, ``simulated`` and ``pending``
    count decisions with disposition ``blocked``, ``simulated`` and ``pending``.
    ``cost`` sums the ``cost`` of result events plus simulated decisions: a live
    call's cost is on both its decision (projected) and its result (incurred), so
    only the result counts; blocked and pending calls cost nothing. Model usage
    events (tokens priced by the manifest's price table) add their cost too.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    agent: str
    task: str
    model: str | None
    prompt_version: str | None
    manifest_sha256: str
    started_by: str | None
    status: RunStatus
    started_at: float
    ended_at: float | None
    end_reason: str | None
    calls: int = 0
    executed: int = 0
    denied: int = 0
    simulated: int = 0
    pending: int = 0
    failed: int = 0
    cost: float = 0.0
    last_event_at: str | None = None
    """``ts`` of the run's latest event, if it has any."""


class RunTable:
    """The runs of one database; see ``DecisionLog.create_run`` and the rest."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        run_id: str,
        *,
        agent: str,
        task: str,
        manifest_sha256: str,
        started_at: float,
        model: str | None,
        prompt_version: str | None,
        started_by: str | None,
    ) -> RunRecord:
        """Insert a ``running`` run; ``UsageError`` if its id is taken."""
        row = {
            "run_id": run_id,
            "agent": agent,
            "task": task,
            "model": model,
            "prompt_version": prompt_version,
            "manifest_sha256": manifest_sha256,
            "started_by": started_by,
            "status": "running",
            "started_at": started_at,
        }
        self._db.insert_new(runs_table, row, f"run {run_id!r}")
        return RunRecord.model_validate({**row, "ended_at": None, "end_reason": None})

    def end(
        self,
        run_id: str,
        *,
        status: Literal["completed", "killed"],
        ended_at: float,
        reason: str | None,
    ) -> RunRecord:
        """End the run if it is still running, then read back whichever end won."""
        if status not in ("completed", "killed"):
            msg = f"a run cannot end with status {status!r}"
            raise UsageError(msg)
        stmt = (
            runs_table.update()
            .where(_R.run_id == run_id, _R.status == "running")
            .values(status=status, ended_at=ended_at, end_reason=reason)
        )
        with self._db.guard("record a run in"), self._db.begin() as conn:
            conn.execute(stmt)
        record = self.get(run_id)
        if record is None:
            msg = f"run {run_id!r} is unknown"
            raise UsageError(msg)
        return record

    def get(self, run_id: str) -> RunRecord | None:
        """One run with its counts, or ``None``."""
        records = self._select(_R.run_id == run_id, limit=1)
        return records[0] if records else None

    def latest(self, limit: int) -> list[RunRecord]:
        """The most recently started runs first, with their counts."""
        return self._select(sa.true(), limit=limit)

    def _select(self, where: sa.ColumnElement[bool], *, limit: int) -> list[RunRecord]:
        stmt = (
            sa.select(runs_table)
            .where(where)
            .order_by(_R.started_at.desc(), _R.run_id)
            .limit(limit)
        )
        with self._db.guard("read runs from"), self._db.connect() as conn:
            runs = [dict(row._mapping) for row in conn.execute(stmt)]  # noqa: SLF001 -- public API despite the name
            if not runs:
                return []
            ids = [run["run_id"] for run in runs]
            counts = {row.run_id: row._mapping for row in conn.execute(_counts(ids))}  # noqa: SLF001 -- as above
        records = []
        for run in runs:
            found = counts.get(run["run_id"])
            extra = {k: v for k, v in found.items() if k != "run_id"} if found else {}
            records.append(RunRecord.model_validate({**run, **extra}))
        return records


def seen_names(
    db: Database, limit: int = 100_000
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Tools and egress hosts each agent used in its runs so far (a baseline)."""
    join = events_table.join(runs_table, _E.run_id == _R.run_id)
    tools: dict[str, set[str]] = {}
    hosts: dict[str, set[str]] = {}
    with db.guard("read"), db.connect() as conn:
        for agent, tool in conn.execute(
            sa.select(_R.agent, _E.tool)
            .select_from(join)
            .where(of_kinds(("decision",), db.engine.dialect))
            .distinct()
        ):
            tools.setdefault(str(agent), set()).add(str(tool))
        for agent, body in conn.execute(
            sa.select(_R.agent, _E.body)
            .select_from(join)
            .where(of_kinds(("egress",), db.engine.dialect))
            .order_by(_E.seq.desc())
            .limit(limit)
        ):
            host = json.loads(body).get("host")
            if isinstance(host, str):
                hosts.setdefault(str(agent), set()).add(host)
    return tools, hosts


def _counts(run_ids: list[str]) -> sa.Select[Any]:
    """Per-run aggregates over the events table; see ``RunRecord`` for each sum."""
    decision = _E.kind == "decision"

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count().filter(condition)

    charged = (
        (_E.kind == "result")
        | (_E.kind == "usage")
        | (decision & (_E.disposition == "simulated"))
    )
    return (
        sa.select(
            _E.run_id,
            count(decision).label("calls"),
            count(_E.disposition == "executed").label("executed"),
            count(decision & (_E.disposition == "blocked")).label("denied"),
            count(decision & (_E.disposition == "simulated")).label("simulated"),
            count(decision & (_E.disposition == "pending")).label("pending"),
            count(_E.disposition == "failed").label("failed"),
            sa.func.coalesce(sa.func.sum(_E.cost).filter(charged), 0.0).label("cost"),
            sa.func.max(_E.ts).label("last_event_at"),
        )
        .where(_E.run_id.in_(run_ids))
        .group_by(_E.run_id)
    )
