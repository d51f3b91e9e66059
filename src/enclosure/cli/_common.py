"""Helpers shared by the command modules: the console, the log, JSON output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from enclosure._enclosure import open_log

if TYPE_CHECKING:
    from enclosure.audit import DecisionLog

__all__ = ["console", "echo_json", "home_of", "open_home_log"]


def console() -> Console:
    """A Rich console on stdout; plain text when stdout is not a terminal."""
    return Console(highlight=False, soft_wrap=False)


def home_of(ctx: click.Context) -> Path:
    home = ctx.find_root().obj["home"]
    assert isinstance(home, Path)  # noqa: S101 -- set by the root group
    return home


def open_home_log(ctx: click.Context) -> DecisionLog:
    """Open the decision log; AuditUnavailable reaches ``main`` as one line."""
    log = open_log(home_of(ctx))
    ctx.call_on_close(log.close)
    return log


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))
