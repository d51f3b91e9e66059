"""``enclosure redteam --manifest M``: which bundled attacks the manifest stops."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from enclosure.cli._common import console
from enclosure.manifest import load_manifest
from enclosure.redteam import run_redteam

__all__ = ["redteam"]

EXIT_GOT_THROUGH = 1


@click.command("redteam")
@click.option(
    "-m",
    "--manifest",
    type=click.Path(path_type=Path, dir_okay=False),
    default="enclosure.yaml",
    show_default=True,
)
@click.pass_context
def redteam(ctx: click.Context, manifest: Path) -> int:
    """Replay hostile scenarios; exit 1 when any attack gets through (for CI)."""
    findings = run_redteam(load_manifest(manifest))
    table = Table(title=f"Red team: {manifest}")
    for col in ("scenario", "tool", "result", "detail"):
        table.add_column(col)
    for f in findings:
        result = "[green]stopped[/]" if f.stopped else "[bold red]GOT THROUGH[/]"
        table.add_row(f.scenario, f.tool, result, f.detail)
    out = console()
    out.print(table)
    through = [f for f in findings if not f.stopped]
    out.print(f"{len(findings) - len(through)} stopped, {len(through)} got through")
    if through:
        ctx.exit(EXIT_GOT_THROUGH)
    return 0
