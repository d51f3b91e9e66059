"""``enclosure serve`` and ``enclosure tokens``: the server and its API tokens.

Both open the decision log ``--db`` names (a SQLAlchemy URL: ``sqlite:///...`` or
``postgresql://...``), else the one under ``--home``. The server needs the
``server`` extra; without it these commands say so in one line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from enclosure._clock import SystemClock
from enclosure._enclosure import Enclosure, env_secret, open_log
from enclosure._webhook import Webhook
from enclosure.audit import DecisionLog, Redactor
from enclosure.cli._common import console, echo_json, home_of
from enclosure.errors import UsageError
from enclosure.manifest import load_manifest

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["serve_command", "tokens"]

_ROLES = ["agent", "approver", "operator", "viewer", "admin"]
_DB = click.option(
    "--db",
    "db_url",
    envvar="ENCLOSURE_DB",
    default=None,
    help="Database URL (sqlite:///... or postgresql://...); default: under --home.",
)


def _server() -> ModuleType:
    try:
        from enclosure import server  # noqa: PLC0415 -- an optional extra
    except ImportError as exc:
        msg = "the server needs its extra: pip install 'enclosure[server]'"
        raise UsageError(msg, code="E-USAGE-EXTRA") from exc
    return server


def _open(ctx: click.Context, db_url: str | None, redactor: Redactor) -> DecisionLog:
    if db_url is None:
        log = open_log(home_of(ctx), redactor)
    else:
        log = DecisionLog(db_url, redactor=redactor)
    ctx.call_on_close(log.close)
    return log


@click.command("serve")
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="enclosure.yaml",
    show_default=True,
)
@_DB
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8350, show_default=True)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help=(
        "A name clients reach the server by (repeatable; '*.example.org' for "
        "subdomains). Requests naming another Host are refused (DNS rebinding)."
    ),
)
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    help="Post new approvals, kills and alerts here (Slack-compatible JSON).",
)
@click.option(
    "--webhook-secret-env",
    default=None,
    help="Environment variable holding the HMAC secret that signs webhook bodies.",
)
@click.pass_context
def serve_command(  # noqa: PLR0917 -- click passes one parameter per option
    ctx: click.Context,
    manifest_path: Path,
    db_url: str | None,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    webhooks: tuple[str, ...],
    webhook_secret_env: str | None,
) -> None:
    """Serve the JSON API and live events for the manifest's runs."""
    server = _server()
    secret = env_secret(webhook_secret_env)
    try:
        hooks = [Webhook(url, secret=secret, retries=3) for url in webhooks]
    except ValueError as exc:
        raise UsageError(str(exc), code="E-USAGE-WEBHOOK") from None
    notifier = server.Notifier(hooks) if hooks else None
    manifest = load_manifest(manifest_path)
    redactor = Redactor()
    log = _open(ctx, db_url, redactor)
    enc = Enclosure(manifest, log=log, home=home_of(ctx))

    def ready(url: str) -> None:
        click.echo(f"serving on {url}", nl=True)

    server.serve(
        enc,
        host=host,
        port=port,
        ready=ready,
        notifier=notifier,
        allowed_hosts=allowed_hosts,
    )


@click.group()
def tokens() -> None:
    """API tokens for the server: each acts as one identity in one role."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(_ROLES), required=True)
@click.option("--ttl", type=click.FloatRange(min=1), default=None, help="Seconds.")
@_DB
@click.pass_context
def create_token(
    ctx: click.Context, name: str, role: str, ttl: float | None, db_url: str | None
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    log = _open(ctx, db_url, Redactor())
    secret, record = _server().issue_token(
        log, name, role, now=SystemClock().time(), ttl=ttl
    )
    click.echo(secret)
    click.echo(f"{record.token_id} {name} {role}", err=True)


@tokens.command("list")
@_DB
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_tokens(
    ctx: click.Context,
    db_url: str | None,
    as_json: bool,  # noqa: FBT001 -- click flag
) -> None:
    """List tokens (never their secrets)."""
    records = _open(ctx, db_url, Redactor()).list_tokens()
    if as_json:
        echo_json([r._asdict() for r in records])
        return
    out = console()
    for r in records:
        state = "revoked" if r.revoked_at is not None else "active"
        created = datetime.fromtimestamp(r.created_at, UTC).isoformat(
            timespec="seconds"
        )
        out.print(f"{r.token_id}  {r.name}  {r.role}  {state}  {created}")


@tokens.command("revoke")
@click.argument("token_id")
@_DB
@click.pass_context
def revoke_token(ctx: click.Context, token_id: str, db_url: str | None) -> None:
    """Revoke a token at once."""
    log = _open(ctx, db_url, Redactor())
    if not log.revoke_token(token_id, now=SystemClock().time()):
        msg = f"token {token_id!r} is unknown or already revoked"
        raise UsageError(msg, code="E-TOKEN-UNKNOWN")
    click.echo(f"revoked {token_id}")
