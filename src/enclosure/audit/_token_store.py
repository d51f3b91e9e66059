"""API tokens: who may use the server, in which role; only hashes are stored.

``TokenTable`` holds the SQL behind ``DecisionLog``'s token methods. A token's
secret never reaches the database: the server stores and looks up its SHA-256.

Must not know: the hash chain, runs, approvals, or how tokens are made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa

from enclosure.audit._schema import TOKEN_ROLES, tokens_table
from enclosure.errors import UsageError

if TYPE_CHECKING:
    from enclosure.audit._database import Database

__all__ = ["TokenRecord", "TokenTable"]

_T = tokens_table.c


class TokenRecord(NamedTuple):
    """One API token as stored: everything but its secret."""

    token_id: str
    name: str
    """The identity it acts as: who started a run, who decided an approval."""
    role: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    def usable(self, now: float) -> bool:
        """Not revoked and not expired at ``now``."""
        expired = self.expires_at is not None and self.expires_at <= now
        return self.revoked_at is None and not expired


_COLUMNS = (_T.token_id, _T.name, _T.role, _T.created_at, _T.expires_at, _T.revoked_at)


class TokenTable:
    """The API tokens of one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, record: TokenRecord, sha256: str) -> None:
        """Store a new token under the hash of its secret."""
        if record.role not in TOKEN_ROLES:
            msg = f"unknown role {record.role!r}; one of {', '.join(TOKEN_ROLES)}"
            raise UsageError(msg, code="E-USAGE-ROLE")
        row = {**record._asdict(), "sha256": sha256}
        self._db.insert_new(tokens_table, row, f"token {record.token_id!r}")

    def find(self, sha256: str) -> TokenRecord | None:
        """The token whose secret hashes to ``sha256``, if any."""
        stmt = sa.select(*_COLUMNS).where(_T.sha256 == sha256)
        with self._db.guard("read a token from"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else TokenRecord(*row)

    def select(self) -> list[TokenRecord]:
        """Every token, oldest first."""
        stmt = sa.select(*_COLUMNS).order_by(_T.created_at, _T.token_id)
        with self._db.guard("read tokens from"), self._db.connect() as conn:
            return [TokenRecord(*row) for row in conn.execute(stmt).all()]

    def revoke(self, token_id: str, *, now: float) -> bool:
        """Revoke a token; False when it is unknown or already revoked."""
        stmt = (
            tokens_table.update()
            .where((_T.token_id == token_id) & _T.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        with self._db.guard("revoke a token in"), self._db.begin() as conn:
            return conn.execute(stmt).rowcount == 1
