"""The ``enclosure`` command line: one module per command group.

Must not be imported by anything in ``src/``. ``entrypoint`` is the console
script. It answers ``enclosure [--home H] hook claude-code --manifest M`` without
loading click or the other commands: Claude Code starts that once per tool call,
so its start-up is the hook's latency. Everything else goes to ``main()``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enclosure.cli._main import cli, main

__all__ = ["cli", "entrypoint", "hook_argv", "main"]


def __getattr__(name: str) -> Any:
    if name in ("cli", "main"):
        from enclosure.cli import _main  # noqa: PLC0415 -- loaded on first use

        return getattr(_main, name)
    msg = f"module 'enclosure.cli' has no attribute {name!r}"
    raise AttributeError(msg)


def hook_argv(argv: list[str]) -> tuple[str, str | None] | None:
    """``(manifest, home)`` when ``argv`` is exactly a hook call, else ``None``.

    Only the plain forms are recognised; anything else (``--help``,
    ``--print-settings``, ``--no-server``, a typo) takes the full CLI, which
    gives the same answer or the usual error.
    """
    home: str | None = None
    rest = argv
    if len(rest) >= 2 and rest[0] == "--home":  # noqa: PLR2004
        home, rest = rest[1], rest[2:]
    elif rest and rest[0].startswith("--home="):
        home, rest = rest[0].removeprefix("--home="), rest[1:]
    if rest[:2] != ["hook", "claude-code"]:
        return None
    options = rest[2:]
    if len(options) == 2 and options[0] in ("--manifest", "-m") and options[1]:  # noqa: PLR2004
        return options[1], home or None
    if len(options) == 1 and options[0].startswith("--manifest="):
        manifest = options[0].removeprefix("--manifest=")
        return (manifest, home or None) if manifest else None
    return None


def entrypoint() -> None:
    """Console-script entry point."""
    fast = hook_argv(sys.argv[1:])
    if fast is not None:
        from enclosure.integrations._hook_client import (  # noqa: PLC0415
            MAX_EVENT_BYTES,
            answer,
        )

        raw = sys.stdin.buffer.read(MAX_EVENT_BYTES + 1)
        sys.stdout.write(answer(raw, fast[0], fast[1]) + "\n")
        sys.exit(0)
    from enclosure.cli._main import main  # noqa: PLC0415

    sys.exit(main())
