"""``enclosure runs list|show|kill`` and ``enclosure log``: what agents did, and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from enclosure._enclosure import Enclosure
from enclosure.cli._common import (
    console,
    current_user,
    echo_json,
    home_of,
    open_home_log,
)
from enclosure.errors import UsageError
from enclosure.manifest import AgentSpec, Manifest

if TYPE_CHECKING:
    from enclosure.audit import StoredEvent

__all__ = ["log", "runs"]

_KINDS = [
    "run_started",
    "decision",
    "result",
    "kill",
    "alert",
    "approval",
    "exec",
    "artifact",
    "egress",
    "usage",
    "anomaly",
    "checkpoint",
    "tool_pin",
    "shadow",
    "outcome",
    "ladder",
    "manifest",
    "run_ended",
]
_STYLE = {
    "allow": "green",
    "allowed": "green",
    "denied": "red",
    "executed": "green",
    "simulate": "cyan",
    "simulated": "cyan",
    "approve": "yellow",
    "pending": "yellow",
    "deny": "red",
    "blocked": "red",
    "kill": "bold red",
    "killed": "bold red",
    "failed": "magenta",
}


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _styled(value: str | None) -> str:
    if not value:
        return "-"
    style = _STYLE.get(value)
    return f"[{style}]{value}[/]" if style else value


@click.group()
def runs() -> None:
    """Runs recorded in the decision log."""


@runs.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_runs(ctx: click.Context, limit: int, as_json: bool) -> None:  # noqa: FBT001 -- click flag
    """List recent runs, newest first, with their call counts and cost."""
    records = open_home_log(ctx).list_runs(limit=limit)
    if as_json:
        echo_json([r.model_dump(mode="json") for r in records])
        return
    table = Table(title="Runs")
    for col in (
        "run",
        "agent",
        "task",
        "status",
        "started",
        "calls",
        "executed",
        "blocked",
        "simulated",
        "pending",
        "cost",
    ):
        table.add_column(col)
    for r in records:
        table.add_row(
            r.run_id,
            r.agent,
            r.task,
            _styled(r.status),
            _when(r.started_at),
            str(r.calls),
            str(r.executed),
            str(r.denied),
            str(r.simulated),
            str(r.pending),
            f"{r.cost:g}",
        )
    console().print(table)


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_context
def show_run(ctx: click.Context, run_id: str, as_json: bool) -> None:  # noqa: FBT001 -- click flag
    """Show one run and every event it recorded."""
    log_ = open_home_log(ctx)
    record = log_.get_run(run_id)
    if record is None:
        msg = f"no run {run_id!r} in the decision log"
        raise UsageError(msg, code="E-RUN-UNKNOWN")
    events = log_.events(run_id=run_id)
    if as_json:
        echo_json(
            {
                "run": record.model_dump(mode="json"),
                "events": [_event_json(e) for e in events],
            }
        )
        return
    out = console()
    out.print(
        f"[bold]{record.run_id}[/] agent={record.agent} task={record.task!r} "
        f"status={_styled(record.status)} model={record.model or '-'} "
        f"prompt={record.prompt_version or '-'} manifest={record.manifest_sha256[:16]}"
    )
    out.print(_events_table(events, title=f"Events of {run_id}"))


@runs.command("kill")
@click.argument("run_id")
@click.option("--reason", required=True, help="Why; kept in the kill event.")
@click.option("--by", default=None, help="Who kills it (default: the current user).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def kill_run(
    ctx: click.Context,
    run_id: str,
    reason: str,
    by: str | None,
    as_json: bool,  # noqa: FBT001 -- click flag
) -> None:
    """Kill a running run, wherever its agent runs.

    The kill goes into the decision log. The agent's process refuses its next
    action (E-RUN-KILLED) and stops a sandboxed command it is running as soon as
    it hears of it; the run's own kill hooks fire there. A run that is over is
    left as it is.
    """
    log_ = open_home_log(ctx)
    record = log_.get_run(run_id)
    if record is None:
        msg = f"no run {run_id!r} in the decision log"
        raise UsageError(msg, code="E-RUN-UNKNOWN")
    if record.status == "running":
        who = by or current_user()
        # Killing needs only the run's record and events, not its manifest.
        bare = Manifest(agent=AgentSpec(name=record.agent))
        enc = Enclosure(bare, home=home_of(ctx), log=log_)
        enc.resume_run(run_id).kill(
            f"{reason} (killed by {who})", rule="operator", by=who
        )
        record = log_.get_run(run_id)
        assert record is not None  # noqa: S101 -- it was just there
    if as_json:
        echo_json(record.model_dump(mode="json"))
        return
    console().print(f"{record.run_id}: {_styled(record.status)} ({record.end_reason})")


@click.command()
@click.option("--run", "run_id", default=None, help="Only this run.")
@click.option(
    "--kind", type=click.Choice(_KINDS), multiple=True, help="Only these kinds."
)
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, 100_000)
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.pass_context
def log(
    ctx: click.Context,
    run_id: str | None,
    kind: tuple[str, ...],
    limit: int,
    as_json: bool,  # noqa: FBT001 -- click flag
) -> None:
    """Show the decision log, newest last."""
    log_ = open_home_log(ctx)
    events = log_.events(run_id=run_id, kinds=list(kind) or None)[-limit:]
    if as_json:
        for e in events:
            click.echo(json.dumps(_event_json(e), sort_keys=True))
        return
    console().print(_events_table(events, title="Decision log"))


def _exec_detail(ev: Any) -> str | None:
    if ev.kind != "exec":
        return None
    stopped = f", {ev.limit} limit" if ev.limit else ""
    return f"exit {ev.exit_code}{stopped}: {' '.join(ev.argv)}"


def _egress_detail(ev: Any) -> str | None:
    if ev.kind != "egress":
        return None
    target = f"{ev.method} {ev.scheme}://{ev.host}:{ev.port}{ev.path}"
    why = f" ({ev.reason})" if ev.outcome != "allowed" and ev.reason else ""
    return f"{ev.status} {target}{why}"


def _event_json(e: StoredEvent) -> dict[str, Any]:
    return {"seq": e.seq, "hash": e.hash, **e.event.model_dump(mode="json")}


def _events_table(events: list[StoredEvent], *, title: str) -> Table:
    table = Table(title=title)
    for col in (
        "seq",
        "time",
        "run",
        "kind",
        "tool",
        "outcome",
        "disposition",
        "rule",
        "detail",
    ):
        table.add_column(col, overflow="fold")
    for e in events:
        ev: Any = e.event
        detail = (
            _egress_detail(ev)
            or getattr(ev, "reason", None)
            or getattr(ev, "message", None)
            or (ev.error.message if getattr(ev, "error", None) else None)
            or _exec_detail(ev)
            or getattr(ev, "path", None)
            or ""
        )
        table.add_row(
            str(e.seq),
            ev.ts[11:23],
            ev.run_id,
            ev.kind,
            getattr(ev, "tool", None) or getattr(ev, "principal", None) or "",
            _styled(getattr(ev, "outcome", None) or getattr(ev, "action", None)),
            _styled(getattr(ev, "disposition", None) or _status(ev)),
            getattr(ev, "rule", None) or "",
            detail[:120],
        )
    return table


def _status(ev: Any) -> str | None:
    status = getattr(ev, "status", None)
    return None if status is None else str(status)
