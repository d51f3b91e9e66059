"""Fixtures for the command-line tests: run ``main()`` in-process and capture it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import pytest

from enclosure._enclosure import open_log
from enclosure.cli import main

if TYPE_CHECKING:
    from pathlib import Path


class Outcome(NamedTuple):
    """What one ``enclosure`` invocation did: exit status and both streams."""

    status: int
    out: str
    err: str

    def err_lines(self) -> list[str]:
        return self.err.splitlines()


Invoke = Callable[..., Outcome]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Where the decision log lives; never ``./.enclosure``."""
    return tmp_path / "home"


@pytest.fixture
def empty_home(home: Path) -> Path:
    """A home holding a new, empty decision log."""
    open_log(home).close()
    return home


@pytest.fixture
def enclosure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Invoke:
    """Run ``enclosure ARGS...`` through ``main`` and return what it did.

    The environment is cleared of ``ENCLOSURE_*`` settings and tables get a wide
    terminal, so run ids are not cut. Every invocation is checked for a traceback.
    """
    for name in (
        "ENCLOSURE_HOME",
        "ENCLOSURE_DB_SYNC",
        "ENCLOSURE_DEBUG",
        "ENCLOSURE_DB",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "250")

    def run(*args: str | Path) -> Outcome:
        capsys.readouterr()  # drop anything printed before this invocation
        status = main([str(a) for a in args])
        captured = capsys.readouterr()
        outcome = Outcome(status, captured.out, captured.err)
        assert "Traceback" not in outcome.out + outcome.err
        return outcome

    return run
