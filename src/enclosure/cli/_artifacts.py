"""``enclosure artifacts``: list, diff, promote and reject what a run left behind.

Only ``promote`` touches the host, and only with an explicit approval: a person
names themselves with ``--by`` and confirms (or passes ``--yes``), or CI passes the
token ``enclosure artifacts token`` created (``--token`` or
``ENCLOSURE_PROMOTE_TOKEN``). Names written by the run are shown escaped, so no
file name can drive the terminal.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from enclosure.artifacts import PromotionApproval, PromotionTokens, Quarantine
from enclosure.cli._common import console, echo_json, home_of, open_home_log
from enclosure.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from enclosure.artifacts import Artifact

__all__ = ["artifacts"]

QUARANTINE_DIR = "quarantine"
TOKEN_ENV = "ENCLOSURE_PROMOTE_TOKEN"  # noqa: S105 -- a variable name, not a secret


def _quarantine(ctx: click.Context, run_id: str) -> Quarantine:
    return Quarantine.open(home_of(ctx) / QUARANTINE_DIR, run_id)


def _chosen(
    quarantine: Quarantine,
    ids: Sequence[str],
    *,
    every: bool,
) -> list[str]:
    """The ids named, or with ``--all`` every pending one."""
    if every and ids:
        msg = "name artifacts or pass --all, not both"
        raise UsageError(msg, code="E-USAGE")
    if every:
        return [a.id for a in quarantine.artifacts() if a.state == "pending"]
    if not ids:
        msg = "name the artifacts to decide (see `enclosure artifacts list RUN`)"
        raise UsageError(msg, code="E-USAGE")
    return list(ids)


def _summary(artifact: Artifact) -> str:
    findings = ", ".join(artifact.findings) or "no findings"
    return f"{artifact.id}: {artifact.change} {artifact.path} ({findings})"


@click.group()
def artifacts() -> None:
    """Review a run's quarantined files; only promotion touches the host."""


@artifacts.command("list")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_artifacts(
    ctx: click.Context,
    run_id: str,
    as_json: bool,  # noqa: FBT001 -- click flag
) -> None:
    """List the files RUN added, changed or deleted, with scanner findings."""
    items = _quarantine(ctx, run_id).artifacts()
    if as_json:
        echo_json([a.model_dump(mode="json") for a in items])
        return
    table = Table(title=f"Artifacts of {run_id}")
    for col in ("id", "change", "path", "size", "findings", "state"):
        table.add_column(col, overflow="fold")
    for a in items:
        table.add_row(
            a.id,
            a.change,
            Text(str(a.path)),  # Text: a name is never read as Rich markup
            str(a.size),
            Text(", ".join(a.findings) or "-"),
            a.state if a.decided_by is None else f"{a.state} by {a.decided_by}",
        )
    console().print(table)


@artifacts.command()
@click.argument("run_id")
@click.argument("artifact_id", required=False)
@click.pass_context
def diff(ctx: click.Context, run_id: str, artifact_id: str | None) -> None:
    """Show a unified diff of one artifact (or all) against the original."""
    quarantine = _quarantine(ctx, run_id)
    ids = [artifact_id] if artifact_id else [a.id for a in quarantine.artifacts()]
    for one in ids:
        click.echo(quarantine.diff(one), nl=False)


@artifacts.command()
@click.argument("run_id")
@click.argument("artifact_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every pending artifact.")
@click.option("--by", required=True, help="Who approves the promotion.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    default=None,
    help=f"The CI promotion token (or {TOKEN_ENV}); no confirmation is asked.",
)
@click.option(
    "--accept-findings",
    is_flag=True,
    help="Promote artifacts with scanner findings too (recorded in the log).",
)
@click.pass_context
def promote(  # noqa: PLR0917 -- click passes one argument per option
    ctx: click.Context,
    run_id: str,
    artifact_ids: tuple[str, ...],
    every: bool,  # noqa: FBT001 -- click flag
    by: str,
    yes: bool,  # noqa: FBT001 -- click flag
    token: str | None,
    accept_findings: bool,  # noqa: FBT001 -- click flag
) -> None:
    """Copy approved artifacts of RUN onto the host, atomically and logged."""
    quarantine = _quarantine(ctx, run_id)
    ids = _chosen(quarantine, artifact_ids, every=every)
    if not ids:
        click.echo("nothing to promote")
        return
    log = open_home_log(ctx)
    if token:
        approval = PromotionTokens(home_of(ctx)).approve(token, by=by)
    else:
        approval = PromotionApproval(by=by)
        if not yes:
            for one in ids:
                click.echo(_summary(quarantine.get(one)))
            click.confirm(f"Promote {len(ids)} artifact(s) onto the host?", abort=True)
    done = quarantine.promote(
        ids,
        approval=approval,
        log=log,
        now=time.time(),
        accept_findings=accept_findings,
    )
    for artifact in done:
        click.echo(f"{artifact.id}: promoted {artifact.path} by {approval.by}")


@artifacts.command()
@click.argument("run_id")
@click.argument("artifact_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every pending artifact.")
@click.option("--by", required=True, help="Who rejects them.")
@click.option("--reason", required=True, help="Why (recorded in the log).")
@click.pass_context
def reject(
    ctx: click.Context,
    run_id: str,
    artifact_ids: tuple[str, ...],
    every: bool,  # noqa: FBT001 -- click flag
    by: str,
    reason: str,
) -> None:
    """Reject artifacts of RUN: they stay in quarantine, never on the host."""
    quarantine = _quarantine(ctx, run_id)
    ids = _chosen(quarantine, artifact_ids, every=every)
    if not ids:
        click.echo("nothing to reject")
        return
    done = quarantine.reject(
        ids, by=by, reason=reason, log=open_home_log(ctx), now=time.time()
    )
    for artifact in done:
        click.echo(f"{artifact.id}: rejected {artifact.path} by {by}")


@artifacts.command()
@click.pass_context
def token(ctx: click.Context) -> None:
    """Create (or rotate) the CI promotion token and print it, once."""
    value = PromotionTokens(home_of(ctx)).rotate()
    click.echo(value)
    click.echo(
        f"enclosure: store it as a CI secret and pass it as {TOKEN_ENV}; "
        "the previous token no longer works",
        err=True,
    )
