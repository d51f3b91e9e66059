"""Tool pins: the hash each MCP upstream tool had when the gateway first saw it.

``PinTable`` holds the SQL behind ``DecisionLog.get_pin`` and ``set_pin``. A pin is
keyed by the agent (the manifest's name), the upstream and the tool's name there,
so two manifests sharing one home do not trust each other's tools. What a changed
hash means (withhold the tool, raise an alert) is the gateway's business; this
module only remembers.

Must not know: the hash chain, runs, approvals, or how a tool is hashed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from enclosure.audit._schema import pins_table

if TYPE_CHECKING:
    from enclosure.audit._database import Database

__all__ = ["PinTable"]

_P = pins_table.c


class PinTable:
    """The tool pins of one database; see ``DecisionLog.get_pin`` and ``set_pin``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, agent: str, upstream: str, tool: str) -> str | None:
        """The pinned hash, or None when the tool was never pinned."""
        stmt = sa.select(_P.sha256).where(
            (_P.agent == agent) & (_P.upstream == upstream) & (_P.tool == tool)
        )
        with self._db.guard("read a tool pin from"), self._db.connect() as conn:
            value = conn.execute(stmt).scalar()
        return None if value is None else str(value)

    def put(
        self, agent: str, upstream: str, tool: str, sha256: str, *, now: float
    ) -> None:
        """Pin ``sha256``, replacing any earlier pin of the same tool."""
        key = (_P.agent == agent) & (_P.upstream == upstream) & (_P.tool == tool)
        with self._db.guard("record a tool pin in"), self._db.begin() as conn:
            conn.execute(pins_table.delete().where(key))
            conn.execute(
                pins_table.insert().values(
                    agent=agent,
                    upstream=upstream,
                    tool=tool,
                    sha256=sha256,
                    pinned_at=now,
                )
            )
