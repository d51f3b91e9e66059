"""``enclosure hook claude-code``: the enclosure as a coding agent's tool hook.

A thin door over ``enclosure.integrations.claude_code.hook``: it reads one event
from stdin and prints the answer; every failure is a ``deny`` in the answer, never
a traceback or a non-zero exit (Claude Code reads JSON only on exit 0). For the
fastest cold start, ``--print-settings`` writes the ``python -m`` form of the same
hook, which skips loading the rest of the CLI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from enclosure.integrations.claude_code import MAX_EVENT_BYTES, hook, settings

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
@click.pass_context
def claude_code(ctx: click.Context, manifest: Path, *, print_settings: bool) -> None:
    """Answer a Claude Code PreToolUse/PostToolUse event read from stdin."""
    home: Path = ctx.obj["home"]
    if print_settings:
        click.echo(json.dumps(settings(manifest, home), indent=2))
        return
    answer = hook(sys.stdin.buffer.read(MAX_EVENT_BYTES + 1), manifest, home)
    click.echo(json.dumps(answer))
