"""``enclosure exec``: run one command in the sandbox and exit with its status."""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from enclosure._enclosure import Enclosure
from enclosure.cli._common import home_of
from enclosure.errors import UsageError
from enclosure.sandbox import Mount

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from enclosure._run import Run

__all__ = [
    "exec_command",
    "input_mounts",
    "killed_on_signal",
    "print_outcome",
    "sandboxed_command",
]

EXIT_LIMIT = 137


@contextmanager
def killed_on_signal(run: Run) -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP kill ``run`` (and its sandbox)."""

    def handler(signum: int, _frame: object) -> None:
        run.kill(f"{signal.Signals(signum).name} received", rule="signal")

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    old[signal.SIGHUP] = signal.signal(signal.SIGHUP, handler)
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def input_mounts(inputs: tuple[Path, ...]) -> list[Mount]:
    """``--input DIR`` folders, bound read-only at their own absolute paths.

    Raises:
        UsageError: a folder does not exist (``E-USAGE-ARG``).
    """
    mounts = []
    for folder in inputs:
        path = Path(os.path.abspath(folder))  # noqa: PTH100 -- no symlink resolving
        if not path.exists():
            msg = f"--input {folder}: no such file or folder"
            raise UsageError(msg, code="E-USAGE-ARG")
        mounts.append(Mount(path, str(path)))
    return mounts


def sandboxed_command(
    name: str, manifest_help: str
) -> Callable[[Callable[..., Any]], click.Command]:
    """The options ``exec`` and ``run`` share: manifest, inputs, task, CMD."""

    def wrap(fn: Callable[..., Any]) -> click.Command:
        decorators: list[Callable[[Any], Any]] = [
            click.command(name, context_settings={"ignore_unknown_options": True}),
            click.option(
                "--manifest",
                "-m",
                "manifest_path",
                type=click.Path(path_type=Path, dir_okay=False),
                required=True,
                help=manifest_help,
            ),
            click.option(
                "--input",
                "inputs",
                multiple=True,
                type=click.Path(path_type=Path),
                help="A host folder or file to bind read-only at the same path "
                "(repeatable).",
            ),
            click.option("--task", default=None, help="What the run is for (logged)."),
            click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED),
            click.pass_context,
        ]
        made: Any = fn
        for decorate in reversed(decorators):
            made = decorate(made)
        assert isinstance(made, click.Command)  # noqa: S101 -- click.command is outermost
        return made

    return wrap


@sandboxed_command(
    "exec", "The permission manifest (its compute and filesystem sections apply)."
)
def exec_command(
    ctx: click.Context,
    manifest_path: Path,
    inputs: tuple[Path, ...],
    task: str | None,
    cmd: tuple[str, ...],
) -> int:
    """Run CMD inside the sandbox; exit with its status (137 when a limit fired).

    Its output is printed when it ends. Writes to `filesystem.write` paths stay in
    quarantine: see `enclosure artifacts list RUN`.
    """
    mounts = input_mounts(inputs)
    enc = Enclosure.load(manifest_path, home=home_of(ctx))
    try:
        run = enc.start_run(task=task or f"exec: {' '.join(cmd)[:200]}")
        with killed_on_signal(run):
            result = run.workspace.exec(list(cmd), extra=mounts)
        run.end()
        quarantine = run.workspace.quarantine
        pending = len(quarantine.artifacts()) if quarantine is not None else 0
    finally:
        enc.close()
    return print_outcome(
        stdout=result.stdout,
        stderr=result.stderr,
        truncated=result.stdout_truncated or result.stderr_truncated,
        pending=pending,
        run_id=run.id,
        limit=result.limit,
        exit_code=result.exit_code,
        what="the command",
    )


def print_outcome(
    *,
    stdout: bytes,
    stderr: bytes,
    truncated: bool,
    pending: int,
    run_id: str,
    limit: str | None,
    exit_code: int,
    what: str,
) -> int:
    """Print a finished sandboxed program's output and notes; return the exit status."""
    sys.stdout.buffer.write(stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(stderr)
    if truncated:
        click.echo("enclosure: output was cut at compute.output bytes", err=True)
    if pending:
        click.echo(
            f"enclosure: {pending} artifact(s) in quarantine; review with: "
            f"enclosure artifacts list {run_id}",
            err=True,
        )
    if limit is not None:
        click.echo(
            f"enclosure: E-SANDBOX-LIMIT: the {limit} limit stopped {what}", err=True
        )
        return EXIT_LIMIT
    return exit_code
