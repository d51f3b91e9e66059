"""``enclosure manifest suggest``: the narrowest manifest the good runs needed."""

from __future__ import annotations

from pathlib import Path

import click

from enclosure._ladder import observed
from enclosure.cli._common import open_home_log
from enclosure.errors import UsageError
from enclosure.manifest import load_manifest
from enclosure.shadow import suggest

__all__ = ["manifest"]


@click.group()
def manifest() -> None:
    """Work on permission manifests."""


@manifest.command("suggest")
@click.option(
    "-m",
    "--manifest",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default="enclosure.yaml",
    show_default=True,
)
@click.option(
    "--runs",
    "runs",
    default="all",
    show_default=True,
    help=(
        "Which runs to learn from: 'all' completed (never killed) runs, or run ids "
        "separated by commas."
    ),
)
@click.pass_context
def suggest_command(ctx: click.Context, path: Path, runs: str) -> None:
    """Print changes narrowing the manifest, as a diff with evidence per line."""
    chosen = None
    if runs != "all":
        chosen = [r.strip() for r in runs.split(",") if r.strip()]
        if not chosen:
            msg = f"--runs {runs!r}: give 'all' or run ids separated by commas"
            raise UsageError(msg, code="E-USAGE")
    current = load_manifest(path)
    calls, requests, good = observed(open_home_log(ctx), chosen)
    if not good:
        msg = "no completed runs in the log to learn from"
        raise UsageError(msg, code="E-SUGGEST-NO-RUNS")
    click.echo(f"--- {path} (current)")
    click.echo(f"+++ suggested from {good} good runs")
    for line in suggest(current, calls, requests, good):
        click.echo(line.format())
