"""``enclosure top``: a live view of runs, their rates, denials, cost and alerts.

It reads the decision log (so it shows agents run by any process on this home),
builds a ``TopSnapshot`` and renders it with Rich; ``render`` is a pure function
of the snapshot, so tests check it on a fixed one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from enclosure.audit import AnomalyEvent
from enclosure.cli._common import console, open_home_log

if TYPE_CHECKING:
    from enclosure.audit import DecisionLog, RunRecord

__all__ = ["TopSnapshot", "render", "snapshot", "top"]


class TopSnapshot(NamedTuple):
    """What one frame shows."""

    at: float
    runs: list[RunRecord]
    alerts: list[AnomalyEvent]


def snapshot(log: DecisionLog, now: float, *, limit: int = 20) -> TopSnapshot:
    """Read the newest runs and alerts from ``log``."""
    runs = log.list_runs(limit)
    stored = log.events(kinds=["anomaly"])[-5:]
    alerts = [s.event for s in stored if isinstance(s.event, AnomalyEvent)]
    return TopSnapshot(now, runs, alerts)


def render(snap: TopSnapshot) -> Group:
    """The frame for ``snap``: a table of runs, then the latest alerts."""
    table = Table(title="enclosure top", expand=False)
    for name in ("run", "agent", "status", "calls", "calls/min", "denied", "failed"):
        table.add_column(name, justify="right" if name[0] in "cdf" else "left")
    table.add_column("cost", justify="right")
    running = 0
    for run in snap.runs:
        end = run.ended_at if run.ended_at is not None else snap.at
        minutes = max(end - run.started_at, 1.0) / 60
        style = {"running": "green", "killed": "red"}.get(run.status, "")
        running += run.status == "running"
        table.add_row(
            run.run_id,
            run.agent,
            Text(run.status, style=style),
            str(run.calls),
            f"{run.calls / minutes:.1f}",
            str(run.denied),
            str(run.failed),
            f"{run.cost:.4f}",
        )
    lines = [Text(f"{running} running, {len(snap.runs)} shown")]
    lines += [
        Text(f"ALERT [{a.detector}] {a.run_id}: {a.message} ({a.action})", "red")
        for a in snap.alerts
    ]
    return Group(table, *lines)


@click.command()
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0,
              show_default=True, help="Seconds between refreshes.")  # fmt: skip
@click.option("--once", is_flag=True, help="Print one frame and exit.")
@click.pass_context
def top(ctx: click.Context, interval: float, once: bool) -> int:  # noqa: FBT001 -- click flag
    """Watch running agents: rates, denials, cost and alerts (Ctrl-C to quit)."""
    log = open_home_log(ctx)
    out = console()
    if once:
        out.print(render(snapshot(log, time.time())))
        return 0
    with Live(render(snapshot(log, time.time())), console=out) as live:
        while True:  # until Ctrl-C, which main() turns into exit 130
            time.sleep(interval)
            live.update(render(snapshot(log, time.time())))
