"""Fixtures for the decision-log tests: a log on a temporary file, and event factories.

The factories are fixtures (``decision(3)``, ``result(3, "executed", 0.5)``) because
several test files share them and test files do not import one another.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Literal

import pytest

from enclosure.audit import DecisionEvent, DecisionLog, ResultEvent
from enclosure.testing import decision_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from enclosure.errors import AuditUnavailable


def _ts(n: int) -> str:
    return f"2025-01-02T03:04:{n // 1000000:02d}.{n % 1000000:06d}Z"


def _result(
    n: int,
    disposition: Literal["executed", "failed"],
    cost: float,
    run_id: str = "run-1",
) -> ResultEvent:
    return ResultEvent(
        run_id=run_id,
        ts=_ts(n),
        call_id=f"call-{n}",
        tool="send_email",
        disposition=disposition,
        latency_us=5,
        cost=cost,
    )


@contextlib.contextmanager
def _raw_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection, as an attacker with file access would use."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        yield db
        db.commit()


def _assert_fails_closed(error: AuditUnavailable, where: object) -> None:
    assert error.code == "E-AUDIT-UNAVAILABLE"
    assert str(where) in error.message
    assert "\n" not in str(error)
    assert "Traceback" not in str(error)
    assert "SELECT" not in str(error)
    assert "INSERT" not in str(error)
    assert error.__cause__ is not None


@pytest.fixture
def ts() -> Callable[[int], str]:
    """The ``n``-th timestamp: ``ts(n)`` sorts as ``n`` does."""
    return _ts


@pytest.fixture
def decision() -> Callable[..., DecisionEvent]:
    """``decision(n, **overrides)``: the allowed call ``call-n`` of ``run-1``."""
    return decision_event


@pytest.fixture
def result() -> Callable[..., ResultEvent]:
    """``result(n, disposition, cost, run_id="run-1")``: how ``call-n`` ran."""
    return _result


@pytest.fixture
def raw_db() -> Callable[[Path], contextlib.AbstractContextManager[sqlite3.Connection]]:
    """``with raw_db(path) as db:`` edits the file behind the log's back."""
    return _raw_db


@pytest.fixture
def assert_fails_closed() -> Callable[[AuditUnavailable, object], None]:
    """Check an error is coded, names the database and leaks no SQL or traceback."""
    return _assert_fails_closed


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "enclosure.db"


@pytest.fixture
def log(db_path: Path) -> Iterator[DecisionLog]:
    with DecisionLog(f"sqlite:///{db_path}") as opened:
        yield opened
