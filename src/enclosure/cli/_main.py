"""The ``enclosure`` click group and ``main()``, the CLI's only catch-all.

Every error leaves as one line, ``enclosure: CODE: message``, with a stable exit
status (2 for bad input, 1 for a failed check, 70 for a bug).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from enclosure.cli._agent import prompt, run
from enclosure.cli._approvals import approvals
from enclosure.cli._artifacts import artifacts
from enclosure.cli._audit import audit
from enclosure.cli._check import check, schema
from enclosure.cli._demo import demo
from enclosure.cli._exec import exec_command
from enclosure.cli._hook import hook_group
from enclosure.cli._ladder import ladder
from enclosure.cli._manifest import manifest
from enclosure.cli._mcp import mcp
from enclosure.cli._redteam import redteam
from enclosure.cli._runs import log, runs
from enclosure.cli._serve import serve_command, tokens
from enclosure.cli._shadow import shadow
from enclosure.cli._top import top
from enclosure.errors import EnclosureError, ManifestError

__all__ = ["cli", "main"]

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 70


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    # Not file_okay=False: a home that is a file is the decision log's problem
    # (E-AUDIT-UNAVAILABLE), and commands that never open the log must not fail.
    type=click.Path(path_type=Path),
    envvar="ENCLOSURE_HOME",
    default=".enclosure",
    show_default=True,
    help="Directory holding the decision log (enclosure.db).",
)
@click.version_option(package_name="enclosure")
@click.pass_context
def cli(ctx: click.Context, home: Path) -> None:
    """Enclosure: limit what an AI agent can do before it does it."""
    ctx.obj = {"home": home}


for command in (
    check,
    schema,
    demo,
    runs,
    log,
    audit,
    approvals,
    exec_command,
    run,
    prompt,
    artifacts,
    hook_group,
    top,
    mcp,
    shadow,
    ladder,
    manifest,
    redteam,
    serve_command,
    tokens,
):
    cli.add_command(command)


def _fail(code: str, message: str, status: int) -> int:
    click.echo(f"enclosure: {code}: {' '.join(message.split())}", err=True)
    return status


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status; never lets a traceback out."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        result = cli.main(args=argv, prog_name="enclosure", standalone_mode=False)
    except ManifestError as exc:
        for issue in exc.issues:
            click.echo(issue.format(), err=True)
        return EXIT_BAD_INPUT
    except EnclosureError as exc:
        return _fail(exc.code, exc.message, EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        return _fail("E-ABORTED", "aborted", 130)
    except click.ClickException as exc:
        return _fail("E-USAGE", exc.format_message(), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _fail("E-ABORTED", "interrupted", 130)
    except Exception as exc:  # the top-level catch-all: a bug, reported in one line
        if os.environ.get("ENCLOSURE_DEBUG"):
            raise
        logging.getLogger("enclosure").debug("unexpected error", exc_info=True)
        return _fail(
            "E-INTERNAL",
            f"unexpected {type(exc).__name__}; rerun with ENCLOSURE_DEBUG=1 to see it",
            EXIT_INTERNAL,
        )
    return result if isinstance(result, int) else 0
