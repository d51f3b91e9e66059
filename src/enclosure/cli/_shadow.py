"""``enclosure shadow import|report``: compare shadow proposals with what people did."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from enclosure._clock import SystemClock
from enclosure._enclosure import open_log
from enclosure._ladder import import_outcomes, shadow_report
from enclosure.cli._common import console, home_of, open_home_log
from enclosure.errors import UsageError
from enclosure.shadow import (
    ACTION_COLUMNS,
    action_rows,
    parse_outcomes,
    percent,
    render_html,
)

__all__ = ["shadow"]


@click.group()
def shadow() -> None:
    """Shadow runs: the agent proposes, people act; compare the two."""


@shadow.command("import")
@click.argument("outcomes", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def import_command(ctx: click.Context, outcomes: Path) -> None:
    """Load what people actually did (OUTCOMES.jsonl or .csv) into the log."""
    try:
        text = outcomes.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{outcomes}: cannot read ({type(exc).__name__})"
        raise UsageError(msg, code="E-OUTCOMES-INVALID") from exc
    actions = parse_outcomes(text, str(outcomes))
    log = open_log(home_of(ctx))
    ctx.call_on_close(log.close)
    sources = [f"{outcomes}"] * len(actions)
    n = import_outcomes(log, actions, sources, SystemClock())
    cases = len({a.case_id for a in actions})
    skipped = len(actions) - n
    note = f" ({skipped} already in the log, skipped)" if skipped else ""
    click.echo(f"imported {n} outcomes for {cases} cases{note}")


@shadow.command("report")
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a self-contained HTML report with charts here.",
)
@click.pass_context
def report_command(ctx: click.Context, html_path: Path | None) -> None:
    """Agreement, per-action precision and recall, false and missed actions."""
    report = shadow_report(open_home_log(ctx))
    out = console()
    out.print(
        f"cases compared: {report.cases}  agreement: {percent(report.agreement)} "
        f"(95 % Wilson)  shadow cases without outcome: {report.unmatched_cases}"
    )
    table = Table(title="Per action")
    for col in ACTION_COLUMNS:
        table.add_column(col)
    for row in action_rows(report):
        table.add_row(*row)
    out.print(table)
    out.print(
        f"false actions: {report.false_count}  missed actions: "
        f"{report.missed_count}  argument differences: {report.arg_diff_count}"
    )
    for d in report.arg_diffs[:10]:
        out.print(
            f"  {d.case_id} {d.action}.{d.arg}: proposed {d.proposed!r}, "
            f"actual {d.actual!r}"
        )
    if html_path is not None:
        html_path.write_text(render_html(report), encoding="utf-8")
        out.print(f"HTML report: {html_path}")
