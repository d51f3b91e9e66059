"""``enclosure approvals list|approve|deny``: humans decide parked calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
from rich.table import Table

from enclosure._desk import ApprovalDesk
from enclosure.cli._common import console, current_user, echo_json, open_home_log

if TYPE_CHECKING:
    from enclosure.approvals import Approval

__all__ = ["approvals"]

_STATUSES = ["pending", "approved", "denied", "expired", "consumed"]


def _desk(ctx: click.Context) -> ApprovalDesk:
    return ApprovalDesk(open_home_log(ctx))


@click.group()
def approvals() -> None:
    """Calls parked until a human approves or denies them."""


@approvals.command("list")
@click.option("--status", type=click.Choice(_STATUSES), default=None)
@click.option("--run", "run_id", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_approvals(
    ctx: click.Context,
    status: str | None,
    run_id: str | None,
    as_json: bool,  # noqa: FBT001 -- click flag
) -> None:
    """List approvals (expired ones are marked first)."""
    items = _desk(ctx).list(status=status, run_id=run_id)  # type: ignore[arg-type]  # click.Choice
    if as_json:
        echo_json([a.model_dump(mode="json") for a in items])
        return
    table = Table(title="Approvals")
    for col in (
        "id",
        "run",
        "tool",
        "status",
        "args",
        "reason",
        "expires",
        "decided by",
    ):
        table.add_column(col, overflow="fold")
    for a in items:
        table.add_row(
            a.approval_id,
            a.run_id,
            a.tool,
            a.status,
            json.dumps(a.args, sort_keys=True)[:200],
            a.reason,
            datetime.fromtimestamp(a.expires_at, UTC).strftime("%H:%M:%S"),
            a.decided_by or "-",
        )
    console().print(table)


def _print(a: Approval) -> None:
    click.echo(f"{a.approval_id}: {a.status} by {a.decided_by} ({a.tool})")


@approvals.command()
@click.argument("approval_id")
@click.option("--by", default=None, help="Who decides (default: the current user).")
@click.option("--reason", default=None)
@click.pass_context
def approve(
    ctx: click.Context, approval_id: str, by: str | None, reason: str | None
) -> None:
    """Approve one parked call: it may then run once, with exactly its arguments."""
    _print(_desk(ctx).approve(approval_id, by=by or current_user(), reason=reason))


@approvals.command()
@click.argument("approval_id")
@click.option("--by", default=None, help="Who decides (default: the current user).")
@click.option("--reason", default=None)
@click.pass_context
def deny(
    ctx: click.Context, approval_id: str, by: str | None, reason: str | None
) -> None:
    """Deny one parked call."""
    _print(_desk(ctx).deny(approval_id, by=by or current_user(), reason=reason))
