"""``enclosure hook claude-code``: the enclosure as a coding agent's tool hook.

A thin door over ``enclosure.integrations.claude_code.hook``: it reads one event
from stdin and prints the answer; every failure is a ``deny`` in the answer, never
a traceback or a non-zero exit (Claude Code reads JSON only on exit 0). The
console script answers this command before loading click (see ``enclosure.cli``),
and ``--print-settings`` installs exactly that form.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from enclosure.integrations._hook_client import MAX_EVENT_BYTES, answer
from enclosure.integrations.claude_code import settings

__all__ = ["hook_group"]


@click.group(name="hook")
def hook_group() -> None:
    """Tool hooks for coding agents: one policy decision per tool call."""


@hook_group.command(name="claude-code")
@click.option(
    "--manifest",
    "-m",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manifest the calls are decided by (a missing one denies every call).",
)
@click.option(
    "--print-settings",
    is_flag=True,
    help="Print the settings.json snippet that installs this hook, and exit.",
)
@click.option(
    "--no-server",
    is_flag=True,
    help="Decide in this process; do not use or start the home's decision server.",
)
@click.pass_context
def claude_code(
    ctx: click.Context, manifest: Path, *, print_settings: bool, no_server: bool
) -> None:
    """Answer a Claude Code PreToolUse/PostToolUse event read from stdin.

    The first event of a home starts a decision server that keeps the enclosure
    loaded (``HOME/hook.sock``, gone after 10 idle minutes); later events are
    decided by it, the same way, in a few milliseconds.
    """
    home: Path = ctx.obj["home"]
    if print_settings:
        click.echo(json.dumps(settings(manifest, home), indent=2))
        return
    raw = sys.stdin.buffer.read(MAX_EVENT_BYTES + 1)
    click.echo(answer(raw, manifest, home, server=not no_server))
