"""A run's events indexed in order: ``(run_id, seq)`` in place of ``(run_id)``.

Revision ID: 0006
Revises: 0005

On PostgreSQL the newest event of a run after a given ``seq`` (asked around every
call of a run that servers share) was found either through ``(run_id)`` and a
sort, or by walking the primary key back past every newer run's events (17 ms
with 100,000 of them); a run's events in order needed a sort. With ``seq`` in
the index both are one range of it.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _swap(columns: list[str]) -> None:
    """Build the index anew beside the old one, then put it in its place.

    On PostgreSQL the build blocks writes to ``events`` but not reads; only the
    drop and the rename take the lock that blocks reads too, and they must wait
    for every reader first: ``upgrade``'s lock timeout bounds that wait.
    SQLite, which renames no index, locks the whole file for a write anyway.
    """
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index("ix_events_run_id", table_name="events")
        op.create_index("ix_events_run_id", "events", columns)
        return
    op.create_index("ix_events_run_id_new", "events", columns)
    op.drop_index("ix_events_run_id", table_name="events")
    op.execute("ALTER INDEX ix_events_run_id_new RENAME TO ix_events_run_id")


def upgrade() -> None:
    """Rebuild ``ix_events_run_id`` over ``(run_id, seq)``."""
    _swap(["run_id", "seq"])


def downgrade() -> None:
    """Back to ``(run_id)`` alone."""
    _swap(["run_id"])
