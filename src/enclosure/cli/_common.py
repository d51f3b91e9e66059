"""Helpers shared by the command modules: the console, the log, JSON output."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from enclosure._enclosure import open_log
from enclosure.errors import AuditUnavailable

if TYPE_CHECKING:
    from enclosure.audit import DecisionLog

__all__ = [
    "DB_NAME",
    "console",
    "current_user",
    "echo_json",
    "home_of",
    "open_home_log",
]

DB_NAME = "enclosure.db"


PIPE_WIDTH = 200
"""Table width when stdout is not a terminal, so ids are never cut short."""


def console() -> Console:
    """A Rich console on stdout; plain text and wide tables when piped."""
    width = None if sys.stdout.isatty() else PIPE_WIDTH
    return Console(highlight=False, soft_wrap=False, width=width)


def current_user() -> str:
    """Who runs the command, for ``--by`` defaults: the login name, or "unknown"."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def home_of(ctx: click.Context) -> Path:
    home = ctx.find_root().obj["home"]
    assert isinstance(home, Path)  # noqa: S101 -- set by the root group
    return home


def open_home_log(ctx: click.Context) -> DecisionLog:
    """Open an existing decision log; errors reach ``main`` as one line.

    Raises:
        AuditUnavailable: there is no log under ``--home`` (``E-AUDIT-NOT-FOUND``:
            a mistyped home must not verify as an empty, intact log), or it
            cannot be opened.
    """
    home = home_of(ctx)
    if not (home / DB_NAME).is_file():
        msg = f"no decision log at {home / DB_NAME} (check --home or ENCLOSURE_HOME)"
        raise AuditUnavailable(msg, code="E-AUDIT-NOT-FOUND")
    log = open_log(home)
    ctx.call_on_close(log.close)
    return log


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))
