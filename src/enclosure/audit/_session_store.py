"""Dashboard sessions: which token a browser logged in with, and until when.

``SessionTable`` holds the SQL behind ``DecisionLog``'s session methods. A
session is keyed by the SHA-256 of its cookie's value and keeps the SHA-256 of
the token it logged in with, so neither secret is ever stored; sessions outlive
a server restart and end at their expiry (expired rows are deleted as new
sessions are made).

Must not know: cookies, CSRF, HTTP, or what a token may do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from enclosure.audit._schema import sessions_table

if TYPE_CHECKING:
    from enclosure.audit._database import Database

__all__ = ["SessionTable"]

_S = sessions_table.c


class SessionTable:
    """The dashboard sessions of one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self, sha256: str, token_sha256: str, *, expires_at: float, now: float
    ) -> None:
        """Store a session; forget every session expired at ``now``."""
        with self._db.guard("record a session in"), self._db.begin() as conn:
            conn.execute(sessions_table.delete().where(_S.expires_at <= now))
            conn.execute(
                sessions_table.insert().values(
                    sha256=sha256, token_sha256=token_sha256, expires_at=expires_at
                )
            )

    def find(self, sha256: str, *, now: float) -> tuple[str, float] | None:
        """The token hash and expiry of a live session, if any."""
        stmt = sa.select(_S.token_sha256, _S.expires_at).where(
            (_S.sha256 == sha256) & (_S.expires_at > now)
        )
        with self._db.guard("read a session from"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (str(row[0]), float(row[1]))

    def drop(self, sha256: str) -> None:
        """End a session (nothing happens if there is none)."""
        stmt = sessions_table.delete().where(_S.sha256 == sha256)
        with self._db.guard("end a session in"), self._db.begin() as conn:
            conn.execute(stmt)
