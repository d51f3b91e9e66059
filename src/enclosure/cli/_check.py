"""``enclosure check`` and ``enclosure schema``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from enclosure._enclosure import Enclosure
from enclosure.errors import ManifestError
from enclosure.manifest import json_schema

__all__ = ["check", "schema"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> int:
    """Validate manifests; print FILE:LINE:COL: CODE: message for each problem."""
    failed = False
    for path in files:
        try:
            manifest = Enclosure.check(path)
        except ManifestError as exc:
            failed = True
            for issue in exc.issues:
                click.echo(issue.format(), err=True)
            continue
        click.echo(
            f"{path}: ok ({len(manifest.tools)} tools, sha256 {manifest.sha256[:16]})"
        )
    return 2 if failed else 0


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def schema(out: Path | None) -> None:
    """Print the manifest's JSON Schema (for editors and CI)."""
    text = json.dumps(json_schema(), indent=2, sort_keys=True)
    if out is None:
        click.echo(text)
    else:
        try:
            out.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:  # a missing or unwritable directory is bad input
            raise click.FileError(str(out), exc.strerror or type(exc).__name__) from exc
