"""``enclosure audit verify``: check the decision log's hash chain."""

from __future__ import annotations

import click

from enclosure.cli._common import echo_json, open_home_log

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """Tamper-evidence of the decision log."""


@audit.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def verify(ctx: click.Context, as_json: bool) -> int:  # noqa: FBT001 -- click flag
    """Exit 0 if the log is intact; otherwise name the first bad event."""
    report = open_home_log(ctx).verify()
    if as_json:
        echo_json(report._asdict())
    elif report.ok:
        click.echo(f"audit: ok ({report.events} events, hash chain intact)")
    else:
        click.echo(
            f"audit: FAILED at event {report.first_bad_seq}: {report.problem}", err=True
        )
    return 0 if report.ok else 1
