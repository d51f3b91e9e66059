"""``enclosure run`` and ``enclosure prompt``: an agent program inside the enclosure."""

from __future__ import annotations

import json
from pathlib import Path

import click

from enclosure._enclosure import Enclosure
from enclosure.agent import AgentSession, manifest_summary, system_prompt
from enclosure.cli._common import home_of
from enclosure.cli._exec import (
    EXIT_LIMIT,
    input_mounts,
    killed_on_signal,
    print_outcome,
    sandboxed_command,
)

__all__ = ["prompt", "run"]


@sandboxed_command(
    "run", "The permission manifest: its tools, rules, compute and filesystem."
)
def run(
    ctx: click.Context,
    manifest_path: Path,
    inputs: tuple[Path, ...],
    task: str | None,
    cmd: tuple[str, ...],
) -> int:
    """Run an agent program inside the sandbox, its tools reachable over a socket.

    CMD runs with no network; its only way out is the socket at $ENCLOSURE_SOCKET,
    where `enclosure.client` (on its PYTHONPATH) lists and calls the manifest's
    tools. Every call is decided and logged. The run id goes to stderr; the
    program's output is printed when it ends, and its status is the exit status
    (137 when a limit or the kill switch stopped it). Ctrl-C kills the run.
    """
    enc = Enclosure.load(manifest_path, home=home_of(ctx))
    try:
        session = AgentSession(
            enc,
            task=task or f"run: {' '.join(cmd)[:200]}",
            inputs=input_mounts(inputs),
        )
        with session:
            click.echo(f"enclosure: run {session.run.id}", err=True)
            with killed_on_signal(session.run):
                result = session.exec(list(cmd))
        quarantine = session.run.workspace.quarantine
        pending = len(quarantine.artifacts()) if quarantine is not None else 0
    finally:
        enc.close()
    killed = result.killed_reason is not None
    status = print_outcome(
        stdout=result.stdout,
        stderr=result.stderr,
        truncated=result.truncated,
        pending=pending,
        run_id=result.run_id,
        limit=None if killed else result.limit,
        exit_code=result.exit_code,
        what="the agent",
    )
    if killed:
        click.echo(
            f"enclosure: E-RUN-KILLED: run {result.run_id} was killed: "
            f"{result.killed_reason}",
            err=True,
        )
        return EXIT_LIMIT
    return status


@click.command()
@click.argument(
    "manifest_path",
    metavar="MANIFEST",
    type=click.Path(path_type=Path, dir_okay=False),
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a machine-readable summary (tools, limits, paths) instead.",
)
def prompt(manifest_path: Path, *, as_json: bool) -> None:
    """Print a sandbox-aware system prompt generated from a manifest.

    It tells the model which tools exist and how each is handled (live,
    simulated, approval, off), the rules and limits, what it can read and write,
    and that it has no network. Handlers are not imported and no log is opened.
    """
    manifest = Enclosure.check(manifest_path)
    if as_json:
        text = json.dumps(manifest_summary(manifest), indent=2, sort_keys=True)
        click.echo(text)
        return
    click.echo(system_prompt(manifest), nl=False)
