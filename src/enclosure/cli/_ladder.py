"""``enclosure ladder status|promote``: each tool's stage and the evidence for more."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from rich.table import Table

from enclosure._clock import SystemClock
from enclosure._ladder import Ladder
from enclosure.cli._common import console, open_home_log
from enclosure.manifest import load_manifest
from enclosure.shadow import STAGES

__all__ = ["ladder"]

_MANIFEST = click.option(
    "-m",
    "--manifest",
    type=click.Path(path_type=Path, dir_okay=False),
    default="enclosure.yaml",
    show_default=True,
)


def _ladder(ctx: click.Context, manifest: Path) -> Ladder:
    return Ladder(open_home_log(ctx), load_manifest(manifest), SystemClock())


@click.group()
def ladder() -> None:
    """The maturity ladder: 1 read-only ... 5 broad autonomy."""


@ladder.command("status")
@_MANIFEST
@click.pass_context
def status(ctx: click.Context, manifest: Path) -> None:
    """Each tool's stage, its evidence, and what the next stage still needs."""
    table = Table(title="Maturity ladder")
    for col in (
        "tool",
        "stage",
        "shadow",
        "agree",
        "approvals",
        "rejected",
        "incidents",
        "next stage needs",
    ):
        table.add_column(col)
    rows = _ladder(ctx, manifest).status()
    if not rows:
        click.echo(
            f"no tool in {manifest} is on the ladder: give a tool `stage: 1` to 5 "
            "(1 read-only, 2 shadow, 3 approval-gated, 4 autonomous within "
            "limits, 5 broad autonomy)"
        )
        return
    for st in rows:
        ev = st.evidence
        agree = "n/a" if ev.agreement is None else f"{ev.agreement:.1%}"
        needs = (
            "(top)"
            if st.next_missing is None
            else "; ".join(st.next_missing) or "ready"
        )
        table.add_row(
            st.tool,
            f"{st.stage} {STAGES[st.stage]}",
            str(ev.shadow_cases),
            agree,
            str(ev.approvals),
            str(ev.rejected),
            str(ev.incidents),
            needs,
        )
    console().print(table)


@ladder.command("promote")
@click.argument("tool")
@_MANIFEST
@click.option("--by", default=None, help="Who promotes (default: the OS user).")
@click.pass_context
def promote(ctx: click.Context, tool: str, manifest: Path, by: str | None) -> None:
    """Move TOOL up one stage; refused, saying what is missing, without evidence."""
    try:
        who = by or getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    event = _ladder(ctx, manifest).promote(tool, by=who)
    click.echo(
        f"{tool}: stage {event.from_stage} -> {event.to_stage} "
        f"({STAGES[event.to_stage]}) by {who}"
    )
