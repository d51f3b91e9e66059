"""``enclosure demo``: the runaway-loop demo, offline and deterministic."""

from __future__ import annotations

import logging

import click

from enclosure.cli._common import console, home_of

__all__ = ["demo"]


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> int:
    """Watch a runaway billing agent get stopped after 3 emails."""
    from enclosure.demo import run_demo  # noqa: PLC0415 -- aiosmtpd only for the demo

    out = console()
    # The demo prints each alert itself; the library's log line would repeat it.
    # The level is restored afterwards: the logger is shared with the caller.
    logger = logging.getLogger("enclosure")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        outcome = run_demo(home_of(ctx), out)
    finally:
        logger.setLevel(level)
    if outcome.ok:
        out.print(
            f"[bold green]demo passed[/]: {outcome.emails_delivered} emails delivered, "
            f"loop killed, injected refund {outcome.injected_refund}, audit intact. "
            "Inspect with: enclosure runs list, enclosure log, enclosure audit verify"
        )
        return 0
    out.print(f"[bold red]demo failed[/]: {outcome}")
    return 1
