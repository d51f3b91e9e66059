"""Alembic migrations for the decision log's schema.

On PostgreSQL the schema is managed by the revisions in ``_migrations/versions``:
opening a log brings its database to the newest revision, under an advisory lock so
that servers starting together migrate once. SQLite databases keep being created
by ``_schema.create_schema`` (the same tables), so a file made by an older Enclosure
opens as it always did; ``upgrade`` works on SQLite too, for tests and tools.

Must not know: events, runs or approvals; only where the revisions live.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import exc as sa_exc

from enclosure.errors import AuditUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "HEAD",
    "LOCK_ATTEMPTS",
    "LOCK_TIMEOUT",
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "upgrade",
]

MIGRATIONS = Path(__file__).with_name("_migrations")
"""Alembic's script folder: ``env.py`` and ``versions/``."""
_LOCK_KEY = 0x656E636C6F73  # "enclos": the advisory lock migrations run under
_LOCK_NOT_AVAILABLE = "55P03"
LOCK_TIMEOUT = 0.2
"""Seconds a migration step may wait for a lock on PostgreSQL (``upgrade``)."""
LOCK_ATTEMPTS = 5
"""Tries of a migration whose locks were not had in time (~1.5 s of pauses)."""
_UPGRADING = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for these migrations (``url`` for the command line)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
"""The newest revision."""


def upgrade(
    engine: Engine,
    revision: str = "head",
    *,
    lock_timeout: float = LOCK_TIMEOUT,
    attempts: int = LOCK_ATTEMPTS,
) -> None:
    """Bring the database to ``revision``, in one transaction.

    On PostgreSQL no step waits more than ``lock_timeout`` seconds for a lock: a
    revision that drops or builds an index must not queue every server's reads
    and writes behind a long reader (an older server's ``verify``) for as long
    as that reader runs. It gives up instead, changing nothing, and tries again
    after a pause, ``attempts`` times in all. One process migrates from one
    thread at a time (Alembic keeps its context in module globals).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused; callers guard it.
        AuditUnavailable: the database is at a revision this Enclosure does not
            know (a newer one migrated it), no try had its locks in time, or
            the migration failed otherwise: nothing is changed.
    """
    with _UPGRADING:
        for attempt in range(attempts):
            if _upgrade_once(engine, revision, lock_timeout):
                return
            if attempt < attempts - 1:
                time.sleep(min(1.0, 0.1 * 2**attempt))
    msg = (
        "the decision log's schema migration could not lock its tables within "
        f"{lock_timeout:g} s in {attempts} tries (a long read or write holds "
        "them); nothing was changed: open it again"
    )
    raise AuditUnavailable(msg)


def _upgrade_once(engine: Engine, revision: str, lock_timeout: float) -> bool:
    """One try of ``upgrade``; ``False`` when a lock was not had in time."""
    config = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
            ms = max(1, round(lock_timeout * 1000))
            conn.execute(sa.text(f"SET LOCAL lock_timeout = {ms}"))
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, revision)
        except sa_exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            return False
        except CommandError as exc:
            at = MigrationContext.configure(conn).get_current_revision()
            msg = (
                f"the decision log's database is at schema revision {at}, which "
                f"this Enclosure does not know (it knows up to {HEAD}): a newer "
                "Enclosure migrated it; run that one, or upgrade this one"
            )
            raise AuditUnavailable(msg) from exc
        except (sa_exc.SQLAlchemyError, AuditUnavailable):
            raise
        except Exception as exc:
            msg = f"the decision log's schema migration failed: {type(exc).__name__}"
            raise AuditUnavailable(msg) from exc
    return True


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` if Alembic never ran on it."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
