"""Index only the rare kinds of event: a call's own two events stay out of it.

The full index on ``kind`` took every decision and result, one more page written
(and checkpointed) at each of a call's two commits. Queries by kind ask for rare
kinds; those of a call's events go by run.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_RARE_KINDS = "kind NOT IN ('decision', 'result')"
"""As ``_schema.RARE_KINDS`` was when this revision was written."""


def upgrade() -> None:
    """Replace the index on every event's kind by one on the rare kinds only.

    Either may be done already (a second run, or a database migrated by hand).
    """
    op.create_index(
        "ix_events_rare_kind",
        "events",
        ["kind"],
        sqlite_where=sa.text(_RARE_KINDS),
        postgresql_where=sa.text(_RARE_KINDS),
        if_not_exists=True,
    )
    op.drop_index("ix_events_kind", table_name="events", if_exists=True)


def downgrade() -> None:
    """Index every event's kind again."""
    op.create_index("ix_events_kind", "events", ["kind"], if_not_exists=True)
    op.drop_index("ix_events_rare_kind", table_name="events", if_exists=True)
