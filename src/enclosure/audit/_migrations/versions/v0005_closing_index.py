"""The partial index on runs' kill and end events, read before each action.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_CLOSING_KINDS = "kind IN ('kill', 'run_ended')"
"""As ``_schema.CLOSING_KINDS`` was when this revision was written."""


def upgrade() -> None:
    """Index ``(run_id, kind)`` of the events that close a run, and only those."""
    op.create_index(
        "ix_events_closing",
        "events",
        ["run_id", "kind"],
        sqlite_where=sa.text(_CLOSING_KINDS),
        postgresql_where=sa.text(_CLOSING_KINDS),
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_events_closing", table_name="events")
