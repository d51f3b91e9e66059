"""Fixtures for the data-layer tests: a host folder, its quarantine, a decision log.

Nothing here starts a sandbox: tests write into ``quarantine.mounts[i].host`` as
the sandboxed program would, then scan, diff and promote for real, on real files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from enclosure.artifacts import Quarantine
from enclosure.audit import DecisionLog

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

RUN = "run_0123456789abcdef"


class Setup(NamedTuple):
    """A host write path ``out`` and the run's quarantine of it."""

    out: Path
    """The host folder (``filesystem.write``)."""
    data: Path
    """Its working copy, where the "sandbox" writes."""
    quarantine: Quarantine


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host folder with two files and a subfolder."""
    out = tmp_path / "host" / "out"
    (out / "sub").mkdir(parents=True)
    (out / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (out / "b.txt").write_text("bee\n", encoding="utf-8")
    (out / "sub" / "c.txt").write_text("sea\n", encoding="utf-8")
    return out


@pytest.fixture
def setup(tmp_path: Path, host: Path) -> Setup:
    quarantine = Quarantine.create(tmp_path / "quarantine", RUN, [host])
    return Setup(host, quarantine.mounts[0].host, quarantine)


@pytest.fixture
def log() -> Iterator[DecisionLog]:
    """An in-memory decision log."""
    with DecisionLog("sqlite://") as log:
        yield log


@pytest.fixture
def logged(log: DecisionLog) -> Callable[[], list[dict[str, Any]]]:
    """The artifact events in ``log`` so far, as JSON-like dicts."""

    def read() -> list[dict[str, Any]]:
        return [
            stored.event.model_dump(mode="json")
            for stored in log.events(kinds=["artifact"])
        ]

    return read
